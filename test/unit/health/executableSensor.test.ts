import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executableSensor, runExecutable, type ExecutableSensorConfig } from '../../../src/health/executableSensor.js';
import type { SensorNode } from '../../../src/health/sensor.js';

const AT = 1_700_000_000_000;
const clock = () => AT;

const NODE: SensorNode = {
  nodeId: '6f1c2a4e-0d7b-4c1e-9a53-3e2f8b9c0d11',
  machineId: 'fs-a',
  hostname: 'fs-a.example',
  sipUri: 'sip:10.0.0.5:5080',
  heartbeatArrivals: [AT - 4000, AT - 2000],
  heartbeatIntervalMs: 2000,
  sessions: 12,
  capacity: 100,
  idleCpuPercent: 87.5,
  blockers: ['inbound-paused'],
};

let dir: string;

async function script(name: string, body: string, mode = 0o644): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, body);
  await chmod(path, mode);
  return path;
}

/** A node script as a sensor. */
async function nodeSensor(name: string, body: string, over: Partial<ExecutableSensorConfig> = {}): Promise<ExecutableSensorConfig> {
  return { name: 'custom', command: process.execPath, args: [await script(name, body)], timeoutMs: 10_000, ...over };
}

const read = (config: ExecutableSensorConfig, signal = new AbortController().signal) =>
  executableSensor(config, clock).read(NODE, signal);

/** Alive and not a zombie: a zombie has been killed, whoever reaps it. */
async function alive(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

async function eventually(check: () => Promise<boolean>, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return check();
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sbc-sensor-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('executableSensor', () => {
  it('a node script gets the facts as JSON on stdin and as env, and its output is the reading', async () => {
    const config = await nodeSensor(
      'good.mjs',
      `let s = '';
process.stdin.on('data', (d) => (s += d));
process.stdin.on('end', () => {
  const input = JSON.parse(s);
  const env = process.env;
  process.stdout.write(JSON.stringify({
    score: 88,
    value: input.node.sessions,
    detail: [input.v, input.sensor, input.at, input.node.nodeId, input.node.blockers.join('+'), env.SBC_NODE_ID,
      env.SBC_NODE_SESSIONS, env.SBC_NODE_IDLE_CPU, env.SBC_NODE_BLOCKERS, env.SBC_NODE_LAST_HEARTBEAT_AT,
      env.SBC_SENSOR_NAME, env.EXTRA, String(env.SBC_NODE_KAMAILIO_TOTAL)].join(' '),
  }));
});`,
      { env: { EXTRA: 'given' } },
    );
    expect(await read(config)).toEqual({
      ok: true,
      durationMs: 0,
      reading: {
        sensor: 'custom',
        value: 12,
        score: 88,
        at: AT,
        detail: `1 custom ${AT} ${NODE.nodeId} inbound-paused ${NODE.nodeId} 12 87.5 inbound-paused ${AT - 2000} custom given undefined`,
      },
    });
  });

  it('a /bin/sh script run through its shebang; the value defaults to the score', async () => {
    const path = await script(
      'good.sh',
      '#!/bin/sh\ncat >/dev/null\nprintf \'{"score": 42, "detail": "%s@%s"}\\n\' "$SBC_NODE_HOSTNAME" "$SBC_NODE_SIP_URI"\n',
      0o755,
    );
    expect(await read({ name: 'shell', command: path, timeoutMs: 10_000 })).toEqual({
      ok: true,
      durationMs: 0,
      reading: { sensor: 'shell', value: 42, score: 42, at: AT, detail: 'fs-a.example@sip:10.0.0.5:5080' },
    });
  });

  it('a timeout kills the script and the child it started', async () => {
    const pids = join(dir, 'pids');
    const path = await script('hang.sh', '#!/bin/sh\nsleep 60 &\necho "$$ $!" > "$PIDS"\nwait\n', 0o755);
    const result = await read({ name: 'hang', command: '/bin/sh', args: [path], timeoutMs: 500, env: { PIDS: pids } });
    expect(result).toEqual({ ok: false, sensor: 'hang', reason: 'timeout', detail: 'no exit within 500 ms', durationMs: 0 });
    const [shell, sleeper] = (await readFile(pids, 'utf8')).trim().split(' ').map(Number);
    expect(shell).toBeGreaterThan(0);
    expect(sleeper).toBeGreaterThan(0);
    expect(await eventually(async () => !(await alive(shell!)) && !(await alive(sleeper!)))).toBe(true);
  });

  it('a non-zero exit is `exit`, with the code and the start of stderr', async () => {
    const config = await nodeSensor('fail.mjs', `process.stderr.write('disk check failed\\n'); process.exit(3);`);
    expect(await read(config)).toEqual({
      ok: false,
      sensor: 'custom',
      reason: 'exit',
      detail: 'exit code 3: disk check failed',
      durationMs: 0,
    });
  });

  it('output that is not JSON is `json`', async () => {
    const config = await nodeSensor('text.mjs', `process.stdout.write('all good');`);
    expect(await read(config)).toEqual({
      ok: false,
      sensor: 'custom',
      reason: 'json',
      detail: `Unexpected token 'a', "all good" is not valid JSON`,
      durationMs: 0,
    });
    const empty = await read(await nodeSensor('silent.mjs', ''));
    expect(empty).toEqual({ ok: false, sensor: 'custom', reason: 'json', detail: 'Unexpected end of JSON input', durationMs: 0 });
  });

  it('JSON that is not the schema is `schema`, saying where', async () => {
    const cases: [string, string][] = [
      ['{"score": 150}', '/score: Expected number to be less or equal to 100'],
      ['{"score": -1}', '/score: Expected number to be greater or equal to 0'],
      ['{"score": "90"}', '/score: Expected number'],
      ['{"scroe": 90}', '/score: Expected required property'],
      [`{"score": 90, "detail": "${'d'.repeat(257)}"}`, '/detail: Expected string length less or equal to 256'],
      ['[90]', '/: Expected object'],
    ];
    const got = [];
    for (const [i, [out]] of cases.entries()) {
      const result = await read(await nodeSensor(`schema-${i}.mjs`, `process.stdout.write(${JSON.stringify(out)});`));
      got.push(result.ok ? 'ok' : `${result.reason} ${result.detail}`);
    }
    expect(got).toEqual(cases.map(([, detail]) => `schema ${detail}`));
  });

  it('output beyond the bound is `too-large`, and the process is killed', async () => {
    const pidFile = join(dir, 'flood.pid');
    const config = await nodeSensor(
      'flood.mjs',
      `import { writeFileSync } from 'node:fs';
writeFileSync(process.env.PID_FILE, String(process.pid));
process.stdout.write('x'.repeat(70 * 1024));
setTimeout(() => {}, 60_000);`,
      { env: { PID_FILE: pidFile } },
    );
    expect(await read(config)).toEqual({
      ok: false,
      sensor: 'custom',
      reason: 'too-large',
      detail: 'stdout over 65536 bytes',
      durationMs: 0,
    });
    const flooder = Number(await readFile(pidFile, 'utf8'));
    expect(await eventually(async () => !(await alive(flooder)))).toBe(true);
    const small = await nodeSensor('small-bound.mjs', `process.stdout.write('{"score": 100}');`, { maxOutputBytes: 10 });
    expect(await read(small)).toMatchObject({ ok: false, reason: 'too-large', detail: 'stdout over 10 bytes' });
  });

  it('a command that cannot start is `spawn`', async () => {
    const missing = await read({ name: 'missing', command: join(dir, 'no-such-sensor'), timeoutMs: 5000 });
    expect(missing.ok ? undefined : [missing.reason, missing.detail.includes('ENOENT')]).toEqual(['spawn', true]);
    const notExecutable = await script('plain.sh', '#!/bin/sh\necho "{}"\n', 0o644);
    const denied = await read({ name: 'denied', command: notExecutable, timeoutMs: 5000 });
    expect(denied.ok ? undefined : [denied.reason, denied.detail.includes('EACCES')]).toEqual(['spawn', true]);
  });

  it('an abort stops the run as `aborted`, before or during it', async () => {
    const before = new AbortController();
    before.abort();
    const config = await nodeSensor('slow.mjs', `setTimeout(() => process.stdout.write('{"score": 1}'), 60_000);`);
    expect(await read(config, before.signal)).toEqual({
      ok: false,
      sensor: 'custom',
      reason: 'aborted',
      detail: 'aborted before start',
      durationMs: 0,
    });
    const during = new AbortController();
    setTimeout(() => during.abort(), 200);
    expect(await read(config, during.signal)).toEqual({ ok: false, sensor: 'custom', reason: 'aborted', detail: 'aborted', durationMs: 0 });
  });
});

describe('runExecutable', () => {
  it('passes stdin through and returns stdout; the child inherits no environment but what it is given', async () => {
    const path = await script('echo.mjs', `let s = ''; process.stdin.on('data', (d) => (s += d)); process.stdin.on('end', () => process.stdout.write(s + ' ' + Object.keys(process.env).sort().join(',')));`);
    const result = await runExecutable(
      { command: process.execPath, args: [path], timeoutMs: 10_000, env: { A: '1' } },
      { stdin: 'hello', env: { B: '2' } },
      new AbortController().signal,
      clock,
    );
    expect(result).toEqual({ ok: true, stdout: 'hello A,B', durationMs: 0 });
  });

  it('a script that exits without reading stdin is no failure', async () => {
    const path = await script('ignore-stdin.mjs', `process.stdout.write('done');`);
    const result = await runExecutable(
      { command: process.execPath, args: [path], timeoutMs: 10_000 },
      { stdin: 'x'.repeat(1024 * 1024), env: {} },
      new AbortController().signal,
      clock,
    );
    expect(result).toEqual({ ok: true, stdout: 'done', durationMs: 0 });
  });
});
