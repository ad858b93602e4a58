import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { declaredTestCount } from '../../support/declaredTests.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));

describe('summary line: every test that should have run is counted', () => {
  it('counts plain, modified and table-driven tests, multiplied through describe.each', () => {
    const source = `
      import { describe, it, test } from 'vitest';
      it('a', () => {});
      it.skip('b', () => {});
      test.todo('c');
      it.skipIf(true)('d', () => {});
      it.each([1, 2, 3])('e %s', () => {});
      it.each(someTable)('f', () => {});
      describe.each(['x', 'y'] as const)('g %s', () => {
        it('h', () => {});
        describe('i', () => { it.each([[1], [2]])('j', () => {}); });
      });
      const table: Array<[string, number]> = [['a', 1], ['b', 2], ['c', 3], ['d', 4]];
      it.each(table)('k %s', () => {});
      function helper() { return expect(1).toBe(1); }
    `;
    // 1 + 1 + 1 + 1 + 3 + 1 + 2 * (1 + 2) + 4
    expect(declaredTestCount(source)).toBe(18);
  });

  describe('a file that fails to load', () => {
    // Under the git-ignored .tmp/, so neither git nor lint ever sees it.
    mkdirSync(`${root}.tmp`, { recursive: true });
    const dir = mkdtempSync(`${root}.tmp/summary-`);
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('fails the run and is charged with every test it declares', () => {
      writeFileSync(`${dir}/ok.test.ts`, `import { it, expect } from 'vitest';\nit('one', () => expect(1).toBe(1));\nit('two', () => expect(2).toBe(2));\n`);
      writeFileSync(
        `${dir}/broken.test.ts`,
        `import { it } from 'vitest';\nimport { gone } from './no-such-module.js';\nit.each([1, 2])('uses %s', () => gone());\nit('three', () => gone());\n`,
      );
      writeFileSync(
        `${dir}/vitest.config.ts`,
        `export default { test: { include: ['*.test.ts'], reporters: [${JSON.stringify(`${root}test/support/summaryReporter.ts`)}] } };\n`,
      );
      const run = spawnSync(`${root}node_modules/.bin/vitest`, ['run', '--root', dir], { encoding: 'utf8', timeout: 60_000 });
      const lines = run.stdout.trim().split('\n');
      expect(run.status).toBe(1);
      expect(lines.at(-1)).toBe('2 passed, 3 failed');
      expect(lines.at(-2)).toBe('files that failed to load, their tests counted as failed: broken.test.ts (3 tests)');
    });
  });
});
