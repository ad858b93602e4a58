import { connect, type NatsConnection } from '@nats-io/transport-node';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { decodeDecisionMessage } from '../../src/events/routeDecisions.js';
import { subjects } from '../../src/events/subjects.js';
import { migrate } from '../../src/postgres/migrations.js';
import { startKamailio, type KamailioInstance } from '../support/kamailio.js';
import { waitFor } from '../support/process.js';
import { startRawSipClient, type RawSipClient } from '../support/rawSip.js';
import { createPostgresDatabase, startNats, type NatsService, type Service } from '../support/services.js';
import { startSippUas, type SippUas } from '../support/sipp.js';

/**
 * Routing decisions (call correlation): routing.lua stamps X-SBC-Decision on every relayed
 * INVITE and queues each attempt; the natsflush timer process publishes them in batches on
 * SBC_NATS_ROUTE_SUBJECT. Real Kamailio 5.6.3 with the nats module, real NATS, sipp nodes.
 */
interface Attempt {
  id: string;
  attempt: number;
  atUs: number;
  callId: string;
  kind: string;
  pin: string;
  room?: string;
  key?: string;
  set?: number;
  alg?: number;
  dst?: string;
  result?: number;
  after?: { status: number; timeout?: boolean };
  link?: string;
}

const SUBJECT = subjects('dtest').kamailioRoute('k1');
const DECISION_SHAPE = /^k1-[0-9a-f]+-[0-9a-f]{5}-[0-9a-f]+-[0-9a-f]{3}$/;

describe('routing decisions published by Kamailio (real Kamailio with the nats module, NATS, sipp)', () => {
  let db: Service;
  let nats: NatsService;
  let pool: pg.Pool;
  let nc: NatsConnection;
  let k1: KamailioInstance;
  let answering: SippUas;
  let refusing: SippUas;
  let raw: RawSipClient;
  const heard: { v: number; by: string; decisions: Attempt[] }[] = [];
  /** What the control plane's decoder made of each message (it must take every one). */
  const decoded: boolean[] = [];

  beforeAll(async () => {
    [db, nats] = await Promise.all([createPostgresDatabase(), startNats()]);
    pool = new pg.Pool({ connectionString: db.url, max: 2 });
    await migrate(pool);
    nc = await connect({ servers: nats.url });
    nc.subscribe(SUBJECT, {
      callback: (_e, m) => {
        heard.push(JSON.parse(m.string()) as (typeof heard)[number]);
        decoded.push(decodeDecisionMessage(subjects('dtest'), m.subject, m.data).ok);
      },
    });
    await nc.flush();
    const started = await Promise.allSettled([
      startKamailio({ dbUrl: db.url, env: { SBC_NATS_URL: nats.url, SBC_KAMAILIO_ID: 'k1', SBC_NATS_ROUTE_SUBJECT: SUBJECT } }),
      startSippUas(),
      startSippUas({ responseCode: 503 }),
      startRawSipClient(),
    ]);
    const failure = started.find((s) => s.status === 'rejected');
    const ok = started.map((s) => (s.status === 'fulfilled' ? s.value : undefined));
    [k1, answering, refusing, raw] = ok as [KamailioInstance, SippUas, SippUas, RawSipClient];
    if (failure) throw failure.reason;
  });

  afterAll(async () => {
    await Promise.allSettled([k1?.stop(), answering?.stop(), refusing?.stop(), raw?.close()]);
    await nc?.close();
    await pool?.end();
    await Promise.allSettled([db?.stop(), nats?.stop()]);
  });

  beforeEach(() => {
    answering.reset();
    refusing.reset();
  });

  /** Sets 1 and 2 hold these nodes, in this order (priority). */
  async function load(nodes: SippUas[]): Promise<void> {
    await pool.query('DELETE FROM dispatcher');
    for (const setid of [1, 2]) {
      for (const [i, n] of nodes.entries()) {
        await pool.query('INSERT INTO dispatcher (setid, destination, priority) VALUES ($1, $2, $3)', [setid, n.uri, nodes.length - i]);
      }
    }
    await k1.reloadDispatcher();
  }

  const attemptsOf = (callId: string) =>
    heard
      .flatMap((h) => h.decisions)
      .filter((d) => d.callId === callId)
      .sort((a, b) => a.attempt - b.attempt);

  async function waitForAttempts(callId: string, n: number): Promise<Attempt[]> {
    await waitFor(`${n} attempts of ${callId}`, () => attemptsOf(callId).length >= n, 5000, 20);
    return attemptsOf(callId);
  }

  it('stamps the decision id on the relayed INVITE and publishes the decision, replacing a caller\'s forged id', async () => {
    await load([answering]);
    const call = await raw.invite({ proxyPort: k1.sipPort, ruri: `sip:5000@127.0.0.1:${k1.sipPort}`, headers: { 'X-SBC-Decision': 'forged-by-caller' } });
    expect(call.final.status).toBe(200);
    const [first, ...rest] = await waitForAttempts(call.callId, 1);
    expect(rest).toEqual([]);
    expect(first).toMatchObject({ attempt: 1, kind: 'general', pin: 'none', set: 1, alg: 4, dst: answering.uri });
    expect(first?.id).toMatch(DECISION_SHAPE);
    expect(Math.abs((first?.atUs ?? 0) / 1000 - Date.now())).toBeLessThan(60_000);
    const invite = answering.invites().find((r) => r.callId === call.callId);
    expect(invite?.message.headers.get('x-sbc-decision')).toEqual([first?.id]);
    expect(heard.every((h) => h.v === 1 && h.by === 'k1' && h.decisions.length >= 1 && h.decisions.length <= 32)).toBe(true);
  });

  it('records each failover attempt with the reply that caused it', async () => {
    await load([refusing, answering]);
    const call = await raw.invite({ proxyPort: k1.sipPort, ruri: `sip:5000@127.0.0.1:${k1.sipPort}` });
    expect(call.final.status).toBe(200);
    const attempts = await waitForAttempts(call.callId, 2);
    expect(attempts.map((a) => [a.attempt, a.dst, a.after?.status])).toEqual([
      [1, refusing.uri, undefined],
      [2, answering.uri, 503],
    ]);
    expect(new Set(attempts.map((a) => a.id)).size).toBe(1);
    // The same decision id went to both nodes (the failover branch is a copy of the request).
    expect(refusing.invites().find((r) => r.callId === call.callId)?.message.headers.get('x-sbc-decision')).toEqual([attempts[0]?.id]);
    expect(answering.invites().find((r) => r.callId === call.callId)?.message.headers.get('x-sbc-decision')).toEqual([attempts[0]?.id]);
  });

  it('records what the caller got when no destination was left, and a 503 with no destination at all', async () => {
    await load([refusing]);
    const failed = await raw.invite({ proxyPort: k1.sipPort, ruri: `sip:5000@127.0.0.1:${k1.sipPort}` });
    // tm relays the node's 503 as 500 (RFC 3261 16.7); the decision records what the caller got.
    expect(failed.final.status).toBe(500);
    const attempts = await waitForAttempts(failed.callId, 2);
    expect(attempts.map((a) => [a.attempt, a.dst, a.after?.status, a.result])).toEqual([
      [1, refusing.uri, undefined, undefined],
      [2, undefined, 503, 500],
    ]);
    await load([]);
    const none = await raw.invite({ proxyPort: k1.sipPort, ruri: `sip:5000@127.0.0.1:${k1.sipPort}` });
    expect(none.final.status).toBe(503);
    const [only] = await waitForAttempts(none.callId, 1);
    expect(only).toMatchObject({ attempt: 1, result: 503, kind: 'general' });
    expect(only?.dst).toBeUndefined();
  });

  it('names the room, its key and the pin (made, then hit) for room calls', async () => {
    await load([answering]);
    const first = await raw.invite({ proxyPort: k1.sipPort, ruri: `sip:3777@127.0.0.1:${k1.sipPort}`, fromUser: 'alice' });
    const second = await raw.invite({ proxyPort: k1.sipPort, ruri: `sip:3777@127.0.0.1:${k1.sipPort}`, fromUser: 'bob' });
    const [a] = await waitForAttempts(first.callId, 1);
    const [b] = await waitForAttempts(second.callId, 1);
    expect(a).toMatchObject({ kind: 'room', room: '3777', key: '3777', set: 2, alg: 2, pin: 'made', dst: answering.uri });
    expect(b).toMatchObject({ kind: 'room', room: '3777', key: '3777', pin: 'hit', dst: answering.uri });
    expect(a?.id).not.toBe(b?.id);
  });

  it('keeps a hostile Call-ID intact and valid JSON (quotes, backslashes, braces, bytes above 127)', async () => {
    await load([answering]);
    const callId = `evil"\\{}'); DROP TABLE x; --@host`;
    const call = await raw.invite({ proxyPort: k1.sipPort, ruri: `sip:5000@127.0.0.1:${k1.sipPort}`, callId });
    expect(call.final.status).toBe(200);
    const [d] = await waitForAttempts(callId, 1);
    expect(d?.callId).toBe(callId);
    expect(await k1.rpc('htable.dump', ['natsq'])).toEqual([]);
  });

  // Runs last (tests run in order): everything routing.lua published above.
  it('publishes only messages the control plane decodes', () => {
    expect(decoded.length).toBeGreaterThan(0);
    expect(decoded.every(Boolean)).toBe(true);
  });
});
