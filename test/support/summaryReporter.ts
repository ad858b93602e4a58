import type { Reporter, TestModule } from 'vitest/node';
import { declaredTestCountOfFile } from './declaredTests.js';

/**
 * Ends the run with one plain line, `N passed, N failed[, N skipped]`, that any CI can read
 * without knowing vitest's own summary format. It counts every test that should have run: a
 * file that failed to load contributes every test it declares (read from its source) as
 * failed, and says so on its own line, so a broken import can never make a run look smaller
 * and greener than it is.
 */
export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    const notLoaded: string[] = [];
    const miscounted: string[] = [];
    for (const mod of testModules) {
      const tests = [...mod.children.allTests()];
      for (const test of tests) {
        const state = test.result().state;
        if (state === 'passed') passed++;
        else if (state === 'failed') failed++;
        else skipped++;
      }
      const declared = safeCount(mod.moduleId);
      if (tests.length === 0 && mod.state() === 'failed') {
        const n = Math.max(1, declared ?? 1);
        failed += n;
        notLoaded.push(`${mod.relativeModuleId} (${n} test${n === 1 ? '' : 's'})`);
      } else if (declared !== undefined && declared !== tests.length) {
        miscounted.push(`${mod.relativeModuleId}: vitest collected ${tests.length}, source declares ${declared}`);
      }
    }
    const lines: string[] = [''];
    if (notLoaded.length > 0) lines.push(`files that failed to load, their tests counted as failed: ${notLoaded.join(', ')}`);
    // The static count is what a file that fails to load is charged with: keep it honest.
    if (miscounted.length > 0) lines.push(`declared-test count differs (test/support/declaredTests.ts): ${miscounted.join('; ')}`);
    lines.push(`${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}`);
    process.stdout.write(`${lines.join('\n')}\n`);
  }
}

function safeCount(path: string): number | undefined {
  try {
    return declaredTestCountOfFile(path);
  } catch {
    return undefined;
  }
}
