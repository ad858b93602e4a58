import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:os';
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
  { name: 'join-cost', limitMs: 10 * 60_000 },
  { name: 'failover', limitMs: 6 * 60_000 },
  { name: 'rooms', limitMs: 8 * 60_000 },
  { name: 'calls-ingest', limitMs: 8 * 60_000 },
  { name: 'calls-routing', limitMs: 10 * 60_000 },
  { name: 'calls-lookup', limitMs: 40 * 60_000 },
  { name: 'drain', limitMs: 10 * 60_000 },
  { name: 'scale', limitMs: 10 * 60_000 },
  { name: 'api-auth', limitMs: 5 * 60_000 },
];
const HERE = dirname(fileURLToPath(import.meta.url));

/** How a bench's process ended. */
type Ending =
  | { readonly kind: 'exited'; readonly code: number }
  | { readonly kind: 'signalled'; readonly signal: NodeJS.Signals }
  | { readonly kind: 'limit' };

interface Outcome {
  readonly name: string;
  readonly ending: Ending;
  /** A signal to this runner arrived while the bench ran (it was passed on). */
  readonly interrupted: boolean;
  readonly seconds: number;
  readonly verdict: string;
}

/** After passing a signal on, how long the bench gets to stop everything before its group is killed. */
const INTERRUPT_BOUND_MS = 60_000;

let current: { child: ChildProcess; exited: Promise<Ending> } | undefined;
let interruptedBy: NodeJS.Signals | undefined;
// npm, tsx and the terminal may each deliver the same Ctrl-C: the bench gets it once.
const forward = (sig: NodeJS.Signals) => {
  if (interruptedBy) return;
  interruptedBy = sig;
  const running = current;
  if (!running) return;
  running.child.kill(sig);
  void Promise.race([running.exited, sleep(INTERRUPT_BOUND_MS, 'timeout' as const, { ref: false })]).then((r) => {
    if (r === 'timeout') killGroup(running.child);
  });
};
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, forward);

function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    /* gone */
  }
}

async function runOne(name: string, limitMs: number): Promise<Outcome> {
  const started = performance.now();
  // Own process group: a Ctrl-C in the terminal reaches this runner only, and the bench gets
  // exactly one signal from it, so its clean-up runs in order instead of being cut short.
  const child = spawn(process.execPath, ['--import', 'tsx', join(HERE, `${name}.ts`)], { stdio: ['ignore', 'pipe', 'inherit'], detached: true });
  const exited = new Promise<Ending>((resolve) =>
    child.once('exit', (code, signal) => resolve(signal ? { kind: 'signalled', signal } : { kind: 'exited', code: code ?? 1 })),
  );
  current = { child, exited };
  let verdictLine = '';
  let pending = '';
  child.stdout.on('data', (b: Buffer) => {
    process.stdout.write(b);
    pending += b.toString();
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const l of lines) if (l.startsWith('VERDICT ')) verdictLine = l;
  });
  // Each bench bounds itself; this bound only catches a bench that cannot stop.
  // Unref'd bounds: a pending bound must never keep this process alive after the last bench.
  let ending = await Promise.race([exited, sleep(limitMs + 60_000, 'timeout' as const, { ref: false })]);
  if (ending === 'timeout') {
    child.kill('SIGTERM');
    const stopped = await Promise.race([exited.then(() => true), sleep(30_000, false, { ref: false })]);
    if (!stopped) killGroup(child);
    await exited;
    ending = { kind: 'limit' };
  }
  current = undefined;
  if (pending.startsWith('VERDICT ')) verdictLine = pending;
  return {
    name,
    ending,
    interrupted: interruptedBy !== undefined,
    seconds: (performance.now() - started) / 1000,
    verdict: verdictLine || `VERDICT ${name}: none printed`,
  };
}

function status(o: Outcome): string {
  const how =
    o.ending.kind === 'limit' ? 'killed after its limit' : o.ending.kind === 'signalled' ? `killed by ${o.ending.signal}` : o.ending.code === 0 ? '' : `exit ${o.ending.code}`;
  if (o.interrupted) return ` [interrupted${how ? `, ${how}` : ''}]`;
  return how ? ` [${how}]` : '';
}

// Optional names on the command line run a subset, in the usual order.
const wanted = process.argv.slice(2);
const unknown = wanted.filter((w) => !BENCHES.some((b) => b.name === w));
if (unknown.length > 0) throw new Error(`unknown bench ${unknown.join(', ')}; known: ${BENCHES.map((b) => b.name).join(', ')}`);
const selected = wanted.length > 0 ? BENCHES.filter((b) => wanted.includes(b.name)) : BENCHES;

const outcomes: Outcome[] = [];
const allStarted = performance.now();
for (const b of selected) {
  if (interruptedBy) break;
  outcomes.push(await runOne(b.name, b.limitMs));
}
process.stdout.write('\n=== summary ===\n');
for (const o of outcomes) {
  process.stdout.write(`${o.name.padEnd(12)} ${o.seconds.toFixed(1).padStart(6)} s  ${o.verdict}${status(o)}\n`);
}
for (const b of selected.slice(outcomes.length)) process.stdout.write(`${b.name.padEnd(12)}          not run (interrupted)\n`);
process.stdout.write(`total ${((performance.now() - allStarted) / 1000).toFixed(1)} s${interruptedBy ? ` (interrupted by ${interruptedBy})` : ''}\n`);
const allPassed = outcomes.length === selected.length && outcomes.every((o) => o.ending.kind === 'exited' && o.ending.code === 0);
process.exitCode = interruptedBy ? 128 + constants.signals[interruptedBy] : allPassed ? 0 : 1;
