import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../support/ports.js';
import { startProcess, waitFor, type RunningProcess } from '../support/process.js';
import { EslTestClient, SipTestUac, tcpConnectOutcome } from './test-clients.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
// One process (node with tsx's loader), not the tsx launcher: a SIGKILL in afterEach would
// kill only the launcher and leave the stand-in running.
const TSX = ['--import', 'tsx'];
const procs: RunningProcess[] = [];
afterEach(async () => {
  for (const p of procs.splice(0)) await p.stop('SIGKILL');
});

describe('cli.ts', () => {
  it('prints its ports as one JSON line, serves ESL and SIP, and shuts down gracefully on SIGTERM', async () => {
    const [eslPort, sipPort] = [await freePort(), await freePort()];
    const p = startProcess(process.execPath, [...TSX, 'test/standin/cli.ts', '--esl-port', String(eslPort), '--sip-port', String(sipPort), '--hostname', 'fs-a', '--max-sessions', '5'], { cwd: ROOT });
    procs.push(p);
    await waitFor('the JSON line', () => p.output().includes('"eslPort"'), 20_000);
    const line = p.output().split('\n').find((l) => l.startsWith('{')) ?? '';
    const info = JSON.parse(line) as Record<string, unknown>;
    expect(info).toMatchObject({ eslPort, sipPort, sipUri: `sip:127.0.0.1:${sipPort}`, password: 'ClueCon', hostname: 'fs-a' });
    expect(info.coreUuid).toMatch(/^[0-9a-f-]{36}$/);

    const c = await EslTestClient.ready(eslPort, 'ClueCon');
    expect((await c.command('api status', 'api/response')).body.toString()).toContain('\n5 session(s) max\n');
    const u = await SipTestUac.open(sipPort);
    u.invite();
    await u.response(200);
    u.ack();

    const exited = new Promise<number | null>((resolve) => p.child.once('exit', (code) => resolve(code)));
    p.child.kill('SIGTERM');
    await c.waitClosed(5000);
    expect(c.frames.at(-1)?.body.toString()).toBe('The system is being shut down.\n');
    await u.request('BYE');
    expect(await exited).toBe(0);
    c.close();
    u.close();
  });

  it('takes the timing options; the JSON line means ESL accepts; a bad value exits 2', async () => {
    const [eslPort, sipPort] = [await freePort(), await freePort()];
    const p = startProcess(process.execPath, [
      ...TSX, 'test/standin/cli.ts', '--esl-port', String(eslPort), '--sip-port', String(sipPort),
      '--esl-ready-delay-ms', '500', '--shutdown-delay-ms', '0', '--seed', '7', '--profile-min-uptime-sec', '0',
    ], { cwd: ROOT });
    procs.push(p);
    await waitFor('the JSON line', () => p.output().includes('"eslPort"'), 20_000);
    expect(await tcpConnectOutcome(eslPort)).toBe('accepted');
    const c = await EslTestClient.ready(eslPort, 'ClueCon');
    // --profile-min-uptime-sec 0: no 10 s wait before a profile stop.
    expect((await c.command('api sofia profile internal stop', 'api/response')).body.toString()).toBe('Reload XML [Success]\nstopping: internal');
    c.close();

    const bad = startProcess(process.execPath, [...TSX, 'test/standin/cli.ts', '--esl-ready-delay-ms', 'soon'], { cwd: ROOT });
    procs.push(bad);
    const code = await new Promise<number | null>((resolve) => bad.child.once('exit', (c2) => resolve(c2)));
    expect(code).toBe(2);
    expect(bad.output()).toContain('--esl-ready-delay-ms must be a non-negative integer');
  });
});
