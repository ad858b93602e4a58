import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { controlPlaneSpec } from '../../src/config/controlPlane.js';
import { checkReloadDelta } from '../../src/config/kamailioReloadDelta.js';
import { HttpKamailioRpc } from '../../src/kamailio/httpKamailioRpc.js';
import { migrate } from '../../src/postgres/migrations.js';
import { startKamailio, type KamailioInstance } from '../support/kamailio.js';
import { freePort } from '../support/ports.js';
import { createPostgresDatabase, type Service } from '../support/services.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** The real entry point from source, bounded; only the variables given (no inherited SBC_*). */
function runControlPlane(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: root,
      env: { PATH: process.env.PATH ?? '', SBC_HTTP_HOST: '127.0.0.1', SBC_HTTP_PORT: '0', SBC_LOG_LEVEL: 'silent', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const bound = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('exit', (code) => {
      clearTimeout(bound);
      resolve({ code, stderr });
    });
  });
}

describe('the control plane refuses a configuration that contradicts itself or Kamailio (exit 2)', () => {
  let db: Service;
  let slow: KamailioInstance;
  let standard: KamailioInstance;
  /** Redis that is never there: a run that gets past the configuration checks exits 1 on it. */
  let noRedis: string;

  beforeAll(async () => {
    db = await createPostgresDatabase();
    const pool = new pg.Pool({ connectionString: db.url, max: 1 });
    await migrate(pool);
    await pool.end();
    [slow, standard] = await Promise.all([startKamailio({ dbUrl: db.url, env: { SBC_DS_RELOAD_DELTA: '2' } }), startKamailio({ dbUrl: db.url })]);
    noRedis = `redis://127.0.0.1:${await freePort()}`;
  });
  afterAll(async () => {
    await Promise.allSettled([slow?.stop(), standard?.stop()]);
    await db?.stop();
  });

  it("reads a real Kamailio's reload_delta, the one its dispatcher enforces", async () => {
    const rpc = new HttpKamailioRpc(slow.rpcUrl, 2000);
    expect((await checkReloadDelta([rpc], 1999)).problems).toEqual([expect.stringContaining(`Kamailio at ${slow.rpcUrl} (2 s`)]);
    expect(await checkReloadDelta([rpc], 2000)).toEqual({ problems: [], unverified: [] });
    // The value read is the dispatcher's: a second reload at once is inside its 2 s window.
    await rpc.call('dispatcher.reload');
    await expect(rpc.call('dispatcher.reload')).rejects.toThrow(/Ongoing reload/);
  });

  it("the defaults agree: kamailio.cfg's reload_delta against the control plane's default SBC_RELOAD_DELTA_MS", async () => {
    const check = await checkReloadDelta([new HttpKamailioRpc(standard.rpcUrl, 2000)], controlPlaneSpec.SBC_RELOAD_DELTA_MS.default!);
    expect(check).toEqual({ problems: [], unverified: [] });
  });

  it('src/main.ts exits 2 naming the Kamailio whose reload_delta is longer, before waiting for anything', async () => {
    const r = await runControlPlane({
      SBC_KAMAILIO_RPC_URLS: `${standard.rpcUrl},${slow.rpcUrl}`,
      SBC_RELOAD_DELTA_MS: '1000',
      SBC_REDIS_URL: noRedis,
      SBC_STARTUP_TIMEOUT_MS: '0',
    });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain('invalid configuration:');
    expect(r.stderr).toContain(`SBC_RELOAD_DELTA_MS (1000) is shorter than the dispatcher reload_delta of the Kamailio at ${slow.rpcUrl} (2 s`);
    expect(r.stderr).not.toContain(standard.rpcUrl);
  });

  it('with SBC_RELOAD_DELTA_MS long enough, or the Kamailio unreachable, it goes on (and here stops at the missing Redis, exit 1)', async () => {
    const longEnough = await runControlPlane({ SBC_KAMAILIO_RPC_URLS: slow.rpcUrl, SBC_RELOAD_DELTA_MS: '2000', SBC_REDIS_URL: noRedis, SBC_STARTUP_TIMEOUT_MS: '0' });
    expect(longEnough.code, longEnough.stderr).toBe(1);
    expect(longEnough.stderr).toMatch(/control plane cannot start: Redis at/);
    const unreachable = await runControlPlane({ SBC_KAMAILIO_RPC_URLS: `http://127.0.0.1:${await freePort()}/RPC`, SBC_REDIS_URL: noRedis, SBC_STARTUP_TIMEOUT_MS: '0' });
    expect(unreachable.code, unreachable.stderr).toBe(1);
  });

  it('src/main.ts exits 2 on a set-id clash, listed with every other problem', async () => {
    const r = await runControlPlane({ SBC_DS_SET_CASCADE: '1', SBC_HTTP_PORT: '70000' });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/^invalid configuration:\n {2}- SBC_HTTP_PORT="70000" is invalid: .*\n {2}- SBC_DS_SET_GENERAL, SBC_DS_SET_ROOMS and SBC_DS_SET_CASCADE must differ \(got 1, 2, 1\)\n$/);
  });
});
