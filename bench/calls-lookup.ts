import Fastify from 'fastify';
import pg from 'pg';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { installErrorHandler } from '../src/http/errors.js';
import { callRoutes } from '../src/http/routes/calls.js';
import { MIGRATIONS, migrate } from '../src/postgres/migrations.js';
import { PgCallStore } from '../src/postgres/callStore.js';
import { createPostgresDatabase } from '../test/support/services.js';
import { distribution, distributionLine, line, verdict } from './figures.js';
import { runBench } from './run.js';

/**
 * Call lookup at volume: `GET /v1/calls/{id}` over real HTTP on loopback against a Postgres
 * holding CALLS bridged calls (2 legs each: at least 5 million legs), spread over 7 days.
 * Each call is as the store keeps one: the inbound leg (create, answer, hangup; its Call-ID and
 * Kamailio's decision id), the outbound B leg (Call-ID = its UUID, Other-Leg-Unique-ID and
 * Channel-Call-UUID naming A) and one routing decision: 7 rows. The rows are loaded with the
 * migration's indexes dropped and then built again (as a restore would), then analysed.
 * Lookups ask for a random call's inbound Call-ID, A's UUID or B's UUID, one at a time.
 */
const CALLS = Number(process.env.BENCH_LOOKUP_CALLS ?? 2_500_000);
const LOOKUPS = Number(process.env.BENCH_LOOKUP_QUERIES ?? 2000);
const TARGET_P99_MS = 10;
const CHUNK = 250_000;
const DAY_MS = 86_400_000;

const hex = (n: number, w: number) => n.toString(16).padStart(w, '0');
const uuidOf = (leg: 'a' | 'b', n: number) => `${leg}${hex(n, 7)}-0000-4000-8000-${hex(n, 12)}`;
const sqlUuid = (leg: 'a' | 'b') => `'${leg}' || lpad(to_hex(n), 7, '0') || '-0000-4000-8000-' || lpad(to_hex(n), 12, '0')`;

await runBench('calls-lookup', 40 * 60_000, async (cleanup) => {
  const db = await createPostgresDatabase();
  cleanup.push('postgres database', () => db.stop());
  const pool = new pg.Pool({ connectionString: db.url, max: 4 });
  cleanup.push('postgres pool', () => pool.end());
  await migrate(pool);
  const now = Date.now();
  const store = new PgCallStore(pool, { retentionMs: 8 * DAY_MS, daysAhead: 1 });
  // Partitions for the 7 days the calls spread over.
  for (let d = 7; d >= 0; d--) await store.maintainPartitions(now - d * DAY_MS);

  console.log(`setup: private Postgres database; the calls route (src/http/routes/calls.ts) with PgCallStore on Fastify, listening on loopback`);
  console.log(`method: ${CALLS} bridged calls (${2 * CALLS} legs, ${7 * CALLS} rows) over 7 days; ${LOOKUPS} lookups of a random call by inbound Call-ID, A UUID or B UUID, sequential, after 100 warm-up lookups`);

  const indexes = [...MIGRATIONS.find((m) => m.id === 4)!.sql.matchAll(/CREATE INDEX IF NOT EXISTS (\w+) ON [^;]+;/g)].map((m) => ({ name: m[1]!, sql: m[0] }));
  for (const ix of indexes) await pool.query(`DROP INDEX IF EXISTS ${ix.name}`);
  const loadStart = performance.now();
  // Base: 7 days ago; call n on day n % 7, 5 minutes long at most.
  const base = (now - 7 * DAY_MS) * 1000;
  for (let from = 0; from < CALLS; from += CHUNK) {
    const to = Math.min(CALLS, from + CHUNK) - 1;
    const at = (offsetUs: string) => `to_timestamp(((${base} + (n % 7) * ${DAY_MS * 1000}::bigint + (n / 7) * 200 + ${offsetUs})::numeric) / 1000000)`;
    await pool.query(`
      INSERT INTO sbc_call_events (id, at, source, event, node_id, uuid, call_id, other_leg, call_uuid, direction, caller, callee, decision, cause, sip_status)
      SELECT 'f0000000-0000-4000-8000-00000000000' || (n % 10) || ':' || ${sqlUuid('a')} || ':' || e.ev || ':' || e.k, ${at('e.k * 1000000')}, 'node', e.ev,
        'f0000000-0000-4000-8000-00000000000' || (n % 10), ${sqlUuid('a')}, n || '-bench@192.0.2.1',
        CASE WHEN e.ev = 'hangup' THEN ${sqlUuid('b')} END, CASE WHEN e.ev = 'hangup' THEN ${sqlUuid('a')} END, 'inbound',
        '10' || (n % 1000), '8000', 'kam-a-' || to_hex(n) || '-00001-1-001',
        CASE WHEN e.ev = 'hangup' THEN 'NORMAL_CLEARING' END, CASE WHEN e.ev = 'hangup' THEN 200 END
      FROM generate_series(${from}, ${to}) n, (VALUES ('create', 0), ('answer', 2), ('hangup', 60)) e(ev, k);
      INSERT INTO sbc_call_events (id, at, source, event, node_id, uuid, call_id, other_leg, call_uuid, direction, caller, callee, cause)
      SELECT 'f0000000-0000-4000-8000-00000000000' || (n % 10) || ':' || ${sqlUuid('b')} || ':' || e.ev || ':' || e.k, ${at('e.k * 1000000 + 500')}, 'node', e.ev,
        'f0000000-0000-4000-8000-00000000000' || (n % 10), ${sqlUuid('b')}, CASE WHEN e.ev <> 'create' THEN ${sqlUuid('b')} END,
        ${sqlUuid('a')}, CASE WHEN e.ev = 'hangup' THEN ${sqlUuid('b')} ELSE ${sqlUuid('a')} END, 'outbound', '10' || (n % 1000), '9000',
        CASE WHEN e.ev = 'hangup' THEN 'NORMAL_CLEARING' END
      FROM generate_series(${from}, ${to}) n, (VALUES ('create', 1), ('answer', 2), ('hangup', 60)) e(ev, k);
      INSERT INTO sbc_call_events (id, at, source, event, kamailio_id, call_id, decision, route)
      SELECT 'kam-a-' || to_hex(n) || '-00001-1-001:1', ${at('0')}, 'kamailio', 'route', 'kam-a', n || '-bench@192.0.2.1', 'kam-a-' || to_hex(n) || '-00001-1-001',
        '{"attempt":1,"kind":"general","pin":"none","set":1,"alg":4,"dst":"sip:10.0.0.1:5060"}'::jsonb
      FROM generate_series(${from}, ${to}) n;
    `);
    process.stderr.write(`[bench] loaded calls ${from}..${to} (${((performance.now() - loadStart) / 1000).toFixed(0)} s)\n`);
  }
  const loadedMs = performance.now() - loadStart;
  const indexStart = performance.now();
  for (const ix of indexes) await pool.query(ix.sql);
  await pool.query('ANALYZE sbc_call_events');
  const indexMs = performance.now() - indexStart;
  const rows = Number((await pool.query<{ n: string }>('SELECT count(*) AS n FROM sbc_call_events')).rows[0]!.n);
  const legs = Number((await pool.query<{ n: string }>("SELECT count(*) AS n FROM sbc_call_events WHERE event = 'create'")).rows[0]!.n);
  const size = (await pool.query<{ s: string }>("SELECT pg_size_pretty(sum(pg_total_relation_size(c.oid))) AS s FROM pg_class c JOIN pg_inherits i ON i.inhrelid = c.oid JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'sbc_call_events'")).rows[0]!.s;
  console.log(line('stored', `${rows} rows, ${legs} legs, ${size} with indexes; loaded in ${(loadedMs / 1000).toFixed(0)} s, indexes built in ${(indexMs / 1000).toFixed(0)} s`));

  const app = Fastify({ routerOptions: { maxParamLength: 2048 } }).withTypeProvider<TypeBoxTypeProvider>();
  installErrorHandler(app);
  await app.register(callRoutes, { calls: store });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  cleanup.push('http', () => app.close());

  let seed = 42;
  const random = () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const idFor = (i: number) => {
    const n = Math.floor(random() * CALLS);
    return [`${n}-bench@192.0.2.1`, uuidOf('a', n), uuidOf('b', n)][i % 3]!;
  };
  const lookup = async (id: string) => {
    const t = performance.now();
    const res = await fetch(`${url}/v1/calls/${encodeURIComponent(id)}`);
    const body = (await res.json()) as { legs?: unknown[]; decisions?: unknown[] };
    const took = performance.now() - t;
    if (res.status !== 200 || body.legs?.length !== 2 || body.decisions?.length !== 1) throw new Error(`lookup of ${id}: ${res.status} ${JSON.stringify(body).slice(0, 300)}`);
    return took;
  };
  for (let i = 0; i < 100; i++) await lookup(idFor(i));
  const times: number[] = [];
  for (let i = 0; i < LOOKUPS; i++) times.push(await lookup(idFor(i)));
  const d = distribution(times);
  console.log(distributionLine('GET /v1/calls/{id}', d, 2));
  const unknown = await fetch(`${url}/v1/calls/nobody%40nowhere`);
  console.log(line('unknown id', `${unknown.status} ${await unknown.text()}`));
  console.log(verdict('calls-lookup', legs >= 5_000_000 && d.p99 <= TARGET_P99_MS, `p99 ${d.p99.toFixed(2)} ms over ${legs} legs (target <= ${TARGET_P99_MS} ms at >= 5,000,000 legs)`));
});
