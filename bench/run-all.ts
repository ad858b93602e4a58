import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Runs every benchmark in sequence, each in its own process (one at a time: the figures
 * are only comparable on an otherwise quiet machine), echoes their output and ends with
 * one summary line per benchmark.
 */
const BENCHES: readonly { name: string; limitMs: number }[] = [
  { name: 'convergence', limitMs: 8 * 60_000 },
  { name: 'storm', limitMs: 3 * 60_000 },
  { name: 'crash', limitMs: 4 * 60_000 },
  { name: 'memory', limitMs: 6 * 60_000 },
];
const HERE = dirname(fileURLToPath(import.meta.url));

interface Outcome {
  readonly name: string;
  readonly code: number | null;
  readonly seconds: number;
  readonly verdict: string;
}

let current: ReturnType<typeof spawn> | undefined;
let interrupted = false;
const forward = (sig: NodeJS.Signals) => {
  interrupted = true;
  current?.kill(sig);
};
process.on('SIGINT', forward);
process.on('SIGTERM', forward);

async function runOne(name: string, limitMs: number): Promise<Outcome> {
  const started = performance.now();
  // Each bench bounds itself; this bound only catches a bench that cannot stop.
  const child = spawn(process.execPath, ['--import', 'tsx', join(HERE, `${name}.ts`)], { stdio: ['ignore', 'pipe', 'inherit'] });
  current = child;
  let verdictLine = '';
  let pending = '';
  child.stdout.on('data', (b: Buffer) => {
    process.stdout.write(b);
    pending += b.toString();
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const l of lines) if (l.startsWith('VERDICT ')) verdictLine = l;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  // Unref'd bounds: a pending bound must never keep this process alive after the last bench.
  const code = await Promise.race([exited, sleep(limitMs + 60_000, 'timeout' as const, { ref: false })]);
  if (code === 'timeout') {
    child.kill('SIGTERM');
    const stopped = await Promise.race([exited.then(() => true), sleep(30_000, false, { ref: false })]);
    if (!stopped) child.kill('SIGKILL');
    await exited;
  }
  current = undefined;
  if (pending.startsWith('VERDICT ')) verdictLine = pending;
  return {
    name,
    code: code === 'timeout' ? null : code,
    seconds: (performance.now() - started) / 1000,
    verdict: verdictLine || `VERDICT ${name}: none printed`,
  };
}

// Optional names on the command line run a subset, in the usual order.
const wanted = process.argv.slice(2);
const unknown = wanted.filter((w) => !BENCHES.some((b) => b.name === w));
if (unknown.length > 0) throw new Error(`unknown bench ${unknown.join(', ')}; known: ${BENCHES.map((b) => b.name).join(', ')}`);
const selected = wanted.length > 0 ? BENCHES.filter((b) => wanted.includes(b.name)) : BENCHES;

const outcomes: Outcome[] = [];
const allStarted = performance.now();
for (const b of selected) {
  if (interrupted) break;
  outcomes.push(await runOne(b.name, b.limitMs));
}
process.stdout.write('\n=== summary ===\n');
for (const o of outcomes) {
  const status = o.code === 0 ? '' : ` [exit ${o.code ?? 'killed after its limit'}]`;
  process.stdout.write(`${o.name.padEnd(12)} ${o.seconds.toFixed(1).padStart(6)} s  ${o.verdict}${status}\n`);
}
process.stdout.write(`total ${((performance.now() - allStarted) / 1000).toFixed(1)} s\n`);
process.exitCode = outcomes.length === selected.length && outcomes.every((o) => o.code === 0) ? 0 : 1;
