import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/ports.js';
import { startProcess } from '../support/process.js';
import { createPostgresDatabase, startNats, startRedis, type Service } from '../support/services.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The real entry point, as `npm start` runs it (from source), bounded. */
function runControlPlane(env: Record<string, string>, stopWhen?: RegExp, onOutput?: (stdout: string) => void): Promise<Exit> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: root,
      env: { PATH: process.env.PATH ?? '', SBC_HTTP_HOST: '127.0.0.1', SBC_HTTP_PORT: '0', SBC_LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      onOutput?.(stdout);
      if (stopWhen?.test(stdout)) child.kill('SIGTERM');
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const bound = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('exit', (code) => {
      clearTimeout(bound);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('control plane start-up with a dependency away', () => {
  let redis: Service;
  let nats: Service;
  let db: Service;
  beforeAll(async () => {
    [redis, nats, db] = await Promise.all([startRedis(), startNats(), createPostgresDatabase()]);
  });
  afterAll(async () => {
    await Promise.allSettled([redis?.stop(), nats?.stop(), db?.stop()]);
  });

  it('retries Redis with backoff for the bound, then exits 1 naming Redis and its URL', async () => {
    const port = await freePort();
    const r = await runControlPlane({ SBC_REDIS_URL: `redis://127.0.0.1:${port}`, SBC_PG_URL: db.url, SBC_NATS_URL: nats.url, SBC_STARTUP_TIMEOUT_MS: '1500' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^control plane cannot start: Redis at redis://127\\.0\\.0\\.1:${port} is not reachable after \\d+ s \\(\\d+ attempts\\): .*ECONNREFUSED`, 'm'));
    expect(r.stderr).not.toMatch(/Connection is closed/);
    const retries = r.stdout.split('\n').filter((l) => l.includes('"component":"Redis"') && l.includes('not reachable yet; retrying'));
    expect(retries.length).toBeGreaterThanOrEqual(2);
  });

  it('names Postgres, without its password, when the database is the one away', async () => {
    const port = await freePort();
    const r = await runControlPlane({
      SBC_REDIS_URL: redis.url,
      SBC_PG_URL: `postgres://sbc:secret@127.0.0.1:${port}/sbc`,
      SBC_NATS_URL: nats.url,
      SBC_STARTUP_TIMEOUT_MS: '800',
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`control plane cannot start: Postgres at postgres://sbc:***@127.0.0.1:${port}/sbc is not reachable`);
    expect(r.stderr + r.stdout).not.toContain('secret');
  });

  it('starts once Redis comes up within the bound', async () => {
    const port = await freePort();
    let lateRedis: ReturnType<typeof startProcess> | undefined;
    try {
      const r = await runControlPlane(
        { SBC_REDIS_URL: `redis://127.0.0.1:${port}`, SBC_PG_URL: db.url, SBC_NATS_URL: nats.url, SBC_STARTUP_TIMEOUT_MS: '20000', SBC_KAMAILIO_RPC_URLS: `http://127.0.0.1:${await freePort()}/RPC` },
        /Server listening/,
        // Redis appears only after the control plane has found it missing once.
        (out) => {
          if (!lateRedis && out.includes('Redis not reachable yet; retrying')) {
            lateRedis = startProcess('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']);
          }
        },
      );
      expect(r.stdout).toMatch(/"component":"Redis".*"msg":"Redis reachable"/);
      expect(r.code).toBe(0); // stopped by SIGTERM once it listened
    } finally {
      await lateRedis?.stop();
    }
  });
});
