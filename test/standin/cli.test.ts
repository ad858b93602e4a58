import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../support/ports.js';
import { startProcess, waitFor, type RunningProcess } from '../support/process.js';
import { EslTestClient, SipTestUac } from './test-clients.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const procs: RunningProcess[] = [];
afterEach(async () => {
  for (const p of procs.splice(0)) await p.stop('SIGKILL');
});

describe('cli.ts', () => {
  it('prints its ports as one JSON line, serves ESL and SIP, and shuts down gracefully on SIGTERM', async () => {
    const [eslPort, sipPort] = [await freePort(), await freePort()];
    const p = startProcess(`${ROOT}node_modules/.bin/tsx`, ['test/standin/cli.ts', '--esl-port', String(eslPort), '--sip-port', String(sipPort), '--hostname', 'fs-a', '--max-sessions', '5'], { cwd: ROOT });
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
});
