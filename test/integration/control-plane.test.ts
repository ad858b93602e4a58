import { randomBytes } from 'node:crypto';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadControlPlaneConfig } from '../../src/config/controlPlane.js';
import { startControlPlane, type ControlPlane } from '../../src/controlPlane.js';
import { encodeMessage } from '../../src/events/codec.js';
import { subjects } from '../../src/events/subjects.js';
import { parseDispatcherList } from '../../src/kamailio/answers.js';
import { migrate } from '../../src/postgres/migrations.js';
import { startKamailio, type KamailioInstance } from '../support/kamailio.js';
import { waitFor } from '../support/process.js';
import { createPostgresDatabase, startNats, startRedis, type Service } from '../support/services.js';

/** The control plane with real NATS, Redis, Postgres and two real Kamailios; agents are
 * represented by the messages they publish. */
describe('control plane against real services', () => {
  let db: Service;
  let redis: Service;
  let nats: Service;
  let pool: pg.Pool;
  const kams: KamailioInstance[] = [];
  let cp: ControlPlane;
  let nc: NatsConnection;
  const prefix = `cp${randomBytes(3).toString('hex')}`;
  const s = subjects(prefix);
  const seqs = new Map<string, number>();

  const id = (n: number) => `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
  const publish = (n: number, kind: 'joined' | 'heartbeat' | 'left', extra: object = {}) => {
    const seq = (seqs.get(id(n)) ?? Date.now()) + 1;
    seqs.set(id(n), seq);
    const facts = { v: 1, nodeId: id(n), seq, sentAt: Date.now(), sipUri: `sip:127.0.2.${n}:5080`, hostname: `fs${n}`, capacity: 100 * n, sessions: 0, agentVersion: '0.1.0', heartbeatIntervalMs: 60_000 };
    const body = kind === 'left' ? { v: 1, nodeId: id(n), seq, sentAt: Date.now(), reason: 'agent-stopping' } : kind === 'joined' ? { ...facts, reason: 'start' } : facts;
    nc.publish(s.node(id(n), kind), encodeMessage({ ...body, ...extra }));
  };
  const loaded = async (k: KamailioInstance) => {
    try {
      return parseDispatcherList(await k.rpc('dispatcher.list')).destinations;
    } catch (err) {
      if (/No Destination Sets/.test(String(err))) return [];
      throw err;
    }
  };
  const set1 = async (k: KamailioInstance) => (await loaded(k)).filter((d) => d.setId === 1).map((d) => `${d.uri} ${d.flags}`).sort();
  const rows = async () => (await pool.query<{ setid: number; destination: string; priority: number }>('SELECT setid, destination, priority FROM dispatcher ORDER BY setid, destination')).rows;

  beforeAll(async () => {
    [db, redis, nats] = await Promise.all([createPostgresDatabase(), startRedis(), startNats()]);
    pool = new pg.Pool({ connectionString: db.url });
    pool.on('error', () => undefined);
    await migrate(pool);
    kams.push(await startKamailio({ dbUrl: db.url }), await startKamailio({ dbUrl: db.url }));
    cp = await startControlPlane(
      loadControlPlaneConfig({
        SBC_NATS_URL: nats.url, SBC_NATS_PREFIX: prefix, SBC_REDIS_URL: redis.url, SBC_REDIS_PREFIX: `${prefix}:`,
        SBC_PG_URL: db.url, SBC_KAMAILIO_RPC_URLS: kams.map((k) => k.rpcUrl).join(','), SBC_RESYNC_MS: '1000', SBC_RPC_TIMEOUT_MS: '1000', SBC_API_AUTH: 'off',
      }),
      pino({ level: 'silent' }),
    );
    nc = await connect({ servers: nats.url });
  });
  afterAll(async () => {
    await nc?.close();
    await cp?.stop();
    for (const k of kams) await k.stop();
    await pool?.end();
    await Promise.all([nats?.stop(), redis?.stop(), db?.stop()]);
  });

  it('joins reach the table and both Kamailios, with unique priorities and capacity weights', async () => {
    for (const n of [1, 2, 3]) publish(n, 'joined');
    for (const k of kams) await waitFor('3 nodes loaded', async () => (await set1(k)).length === 3, 15_000);
    const r = await rows();
    expect(r).toHaveLength(9);
    expect(new Set(r.filter((x) => x.setid === 1).map((x) => x.priority)).size).toBe(3);
    const attrs = (await loaded(kams[0]!)).filter((d) => d.setId === 1).map((d) => d.attrs).sort();
    expect(attrs).toEqual([
      `duid=${id(1)};maxload=100;rweight=33;mid=127.0.2.1:5080`,
      `duid=${id(2)};maxload=200;rweight=67;mid=127.0.2.2:5080`,
      `duid=${id(3)};maxload=300;rweight=100;mid=127.0.2.3:5080`,
    ]);
  });

  it('invalid messages are counted and never reach Postgres or Kamailio', async () => {
    const before = await rows();
    nc.publish(s.node(id(9), 'joined'), new TextEncoder().encode('{not json'));
    nc.publish(s.node(id(9), 'joined'), encodeMessage({ v: 1, nodeId: id(9) }));
    publish(9, 'joined', { sipUri: 'sip:127.0.2.9:5080;x=1\r\n' });
    publish(9, 'joined', { nodeId: id(8) });
    await nc.flush();
    await waitFor('rejections counted', async () => {
      const text = await cp.metrics.registry.getSingleMetricAsString('sbc_nats_messages_rejected_total');
      return ['json', 'schema', 'sip-uri', 'node-id-mismatch'].every((r) => text.includes(`reason="${r}"`));
    }, 5000);
    await cp.reconciler.nextPass();
    expect(await rows()).toEqual(before);
    expect((await loaded(kams[0]!)).some((d) => d.uri.includes('127.0.2.9'))).toBe(false);
  });

  it('repairs a row edited by hand and runtime state changed by someone else', async () => {
    await pool.query("UPDATE dispatcher SET priority = 0, attrs = 'weight=1' WHERE setid = 2 AND destination = 'sip:127.0.2.1:5080'");
    await pool.query("INSERT INTO dispatcher (setid, destination) VALUES (1, 'sip:192.0.2.66:5060')");
    // Disabled by someone else's RPC is drift (a plain inactive mark would be Kamailio's own, held: kamailio-marks.test.ts).
    await kams[1]!.rpc('dispatcher.set_state', ['d', 1, 'sip:127.0.2.2:5080']);
    await waitFor('drift repaired by the periodic resync', async () => {
      const r = await rows();
      const fixed = r.find((x) => x.setid === 2 && x.destination === 'sip:127.0.2.1:5080')?.priority !== 0 && !r.some((x) => x.destination.includes('192.0.2.66'));
      return fixed && (await set1(kams[1]!)).every((d) => d.endsWith(' AX'));
    }, 10_000);
    expect(await rows()).toHaveLength(9);
  });

  it('a Kamailio that is down does not hold back the other, and catches up when back', async () => {
    await kams[1]!.stop();
    publish(4, 'joined');
    await waitFor('node 4 in the live Kamailio', async () => (await set1(kams[0]!)).length === 4, 10_000);
    // /v1/dispatcher shows what the last complete pass saw.
    await cp.reconciler.nextPass();
    const view = (await cp.app.inject('/v1/dispatcher')).json<{ kamailios: { status: string }[] }>();
    expect(view.kamailios.map((k) => k.status)).toEqual(['in-sync', 'unreachable']);
    const fresh = await startKamailio({ dbUrl: db.url });
    // Same table, so a restarted Kamailio loads the current sets by itself.
    expect((await set1(fresh)).length).toBe(4);
    await fresh.stop();
  });

  it('a leave takes the node out of both sets and the table', async () => {
    publish(3, 'left');
    await waitFor('node 3 out of Kamailio', async () => !(await set1(kams[0]!)).some((d) => d.startsWith('sip:127.0.2.3:')), 10_000);
    expect((await rows()).some((r) => r.destination === 'sip:127.0.2.3:5080')).toBe(false);
    const node = (await cp.app.inject(`/v1/nodes/${id(3)}`)).json<{ state: string; goneReason: string }>();
    expect(node).toMatchObject({ state: 'gone', goneReason: 'agent-stopping' });
  });
});
