import Fastify, { type FastifyInstance } from 'fastify';
import pg from 'pg';
import { formatToken, mintToken, secretDigest } from '../src/core/apiTokens.js';
import { installAuth, type ApiAuth } from '../src/http/auth.js';
import { installErrorHandler } from '../src/http/errors.js';
import { clusterRoutes } from '../src/http/routes/cluster.js';
import { createMetrics } from '../src/metrics/metrics.js';
import { migrate } from '../src/postgres/migrations.js';
import { PgTokenStore } from '../src/postgres/tokenStore.js';
import { createPostgresDatabase } from '../test/support/services.js';
import { distribution, distributionLine, line, verdict } from './figures.js';
import { runBench } from './run.js';

/**
 * What the API token check costs a request: `GET /v1/cluster` (a route that answers from
 * memory, so the check is most of what differs) over real HTTP on loopback, sequential,
 * with SBC_API_AUTH off, with a token looked up in a private Postgres (one primary-key read
 * and two SHA-256s per request), with the bootstrap secret (no lookup), and refused (401).
 */
const REQUESTS = Number(process.env.BENCH_AUTH_REQUESTS ?? 3000);
const WARMUP = 200;
const TARGET_ADDED_P99_MS = 2;

const cluster = { status: () => ({ replicaId: 'cp-a', role: 'leader' as const, epoch: 1, leaderId: 'cp-a', replicas: [] }) };

async function api(auth: ApiAuth | undefined): Promise<{ app: FastifyInstance; url: string }> {
  const app = Fastify();
  installErrorHandler(app);
  installAuth(app, auth, createMetrics());
  await app.register(clusterRoutes, { cluster });
  return { app, url: await app.listen({ host: '127.0.0.1', port: 0 }) };
}

/** Latencies (ms) of `REQUESTS` sequential GETs after a warm-up; every answer must have `status`. */
async function timed(url: string, headers: Record<string, string>, status: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < WARMUP + REQUESTS; i++) {
    const t0 = performance.now();
    const res = await fetch(`${url}/v1/cluster`, { headers });
    await res.arrayBuffer();
    const dt = performance.now() - t0;
    if (res.status !== status) throw new Error(`expected ${status}, got ${res.status}`);
    if (i >= WARMUP) out.push(dt);
  }
  return out;
}

await runBench('api-auth', 5 * 60_000, async (cleanup) => {
  const db = await createPostgresDatabase();
  cleanup.push('postgres database', () => db.stop());
  const pool = new pg.Pool({ connectionString: db.url, max: 4 });
  cleanup.push('postgres pool', () => pool.end());
  await migrate(pool);
  const tokens = new PgTokenStore(pool);
  // Other tokens beside the one used: the lookup is by primary key, as in a busy table.
  for (let i = 0; i < 1000; i++) {
    const p = mintToken();
    await tokens.create({ id: p.id, name: `other-${i}`, scopes: ['read'], createdAt: Date.now(), createdBy: 'bench', secretSha256: secretDigest(p.secret) });
  }
  const parts = mintToken();
  await tokens.create({ id: parts.id, name: 'bench', scopes: ['read'], createdAt: Date.now(), createdBy: 'bench', secretSha256: secretDigest(parts.secret) });
  const bootstrap = 'bench-bootstrap-secret-0123456789abcdef';

  const off = await api(undefined);
  cleanup.push('api (auth off)', () => off.app.close());
  const on = await api({ tokens, openPaths: [], bootstrapSha256: secretDigest(bootstrap) });
  cleanup.push('api (auth on)', () => on.app.close());

  console.log('setup: Fastify with the error handler, installAuth and the cluster route, listening on loopback; PgTokenStore on a private Postgres holding 1,001 tokens');
  console.log(`method: ${REQUESTS} sequential GET /v1/cluster per case after ${WARMUP} warm-up requests, fetch from the same process`);
  const offMs = distribution(await timed(off.url, {}, 200));
  const tokenMs = distribution(await timed(on.url, { authorization: `Bearer ${formatToken(parts)}` }, 200));
  const bootMs = distribution(await timed(on.url, { authorization: `Bearer ${bootstrap}` }, 200));
  const refusedMs = distribution(await timed(on.url, {}, 401));
  console.log(distributionLine('auth off', offMs, 2));
  console.log(distributionLine('token (Postgres lookup)', tokenMs, 2));
  console.log(distributionLine('bootstrap secret', bootMs, 2));
  console.log(distributionLine('no token (401)', refusedMs, 2));
  const added = tokenMs.p99 - offMs.p99;
  console.log(line('added by the token check at p50 / p99', `${(tokenMs.p50 - offMs.p50).toFixed(2)} ms / ${added.toFixed(2)} ms`));
  console.log(verdict('api-auth', added <= TARGET_ADDED_P99_MS, `a token check adds ${added.toFixed(2)} ms at p99 (target <= ${TARGET_ADDED_P99_MS} ms)`));
});
