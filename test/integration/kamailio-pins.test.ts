import { setTimeout as sleep } from 'node:timers/promises';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { migrate } from '../../src/postgres/migrations.js';
import { startKamailio, type KamailioInstance } from '../support/kamailio.js';
import { waitFor } from '../support/process.js';
import { startRawSipClient, type RawSipClient } from '../support/rawSip.js';
import { createPostgresDatabase, startNats, type NatsService, type Service } from '../support/services.js';
import { runSippUac, startSippUas, type SippUas, type UacResult } from '../support/sipp.js';

/**
 * Room pins in real Kamailio 5.6.3 (kamailio.cfg + routing.lua), two of them sharing pins
 * over a real NATS through the nats module, real sipp callers and destinations.
 */

const SUBJECT = 'pinstest.kamailio.pins';

interface Row {
  setid: number;
  destination: string;
}

describe('room pins (real Kamailio x2 with the nats module, NATS, Postgres, sipp)', () => {
  let db: Service;
  let nats: NatsService;
  let nc: NatsConnection;
  let pool: pg.Pool;
  let k1: KamailioInstance;
  let k2: KamailioInstance;
  let k3: KamailioInstance; // room header + domain scope, no NATS
  let uas: SippUas[] = [];
  let a: SippUas;
  let b: SippUas;
  let c: SippUas;
  let silent: SippUas;
  let busy: SippUas;
  let refusing: SippUas;
  let raw: RawSipClient;

  const env = (id: string) => ({
    SBC_NATS_URL: nats.url,
    SBC_NATS_PINS_SUBSCRIPTION: `${SUBJECT}:${id}`,
    SBC_KAMAILIO_ID: id,
  });

  beforeAll(async () => {
    [db, nats] = await Promise.all([createPostgresDatabase(), startNats()]);
    pool = new pg.Pool({ connectionString: db.url, max: 2 });
    await migrate(pool);
    nc = await connect({ servers: nats.url });
    const started = await Promise.allSettled([
      startKamailio({ dbUrl: db.url, env: env('k1'), frTimerMs: 500 }),
      startKamailio({ dbUrl: db.url, env: env('k2'), frTimerMs: 500 }),
      startKamailio({ dbUrl: db.url, env: { SBC_ROOM_HEADER: 'X-Room', SBC_ROOM_SCOPE: 'domain', SBC_KAMAILIO_ID: 'k3' } }),
      startSippUas(),
      startSippUas(),
      startSippUas(),
      startSippUas({ responseCode: 'none' }),
      startSippUas({ responseCode: 486 }),
      startSippUas({ responseCode: 503 }),
      startRawSipClient(),
    ]);
    const failure = started.find((s) => s.status === 'rejected');
    const ok = started.map((s) => (s.status === 'fulfilled' ? s.value : undefined));
    [k1, k2, k3] = ok.slice(0, 3) as [KamailioInstance, KamailioInstance, KamailioInstance];
    uas = ok.slice(3, 9).filter((u): u is SippUas => u !== undefined);
    raw = ok[9] as RawSipClient;
    if (failure) throw failure.reason;
    [a, b, c, silent, busy, refusing] = uas as [SippUas, SippUas, SippUas, SippUas, SippUas, SippUas];
    // Both NATS Kamailios subscribed (their consumer processes run the "connected" event).
    await waitFor('kamailio nats subscribers', () => /nats:connected/.test(k1.output()) && /nats:connected/.test(k2.output()), 10_000, 50).catch(() => {});
  });

  afterAll(async () => {
    await Promise.allSettled([k1?.stop(), k2?.stop(), k3?.stop(), ...uas.map((u) => u.stop()), raw?.close()]);
    await nc?.close();
    await pool?.end();
    await Promise.allSettled([db?.stop(), nats?.stop()]);
  });

  beforeEach(() => {
    for (const u of uas) u.reset();
  });

  async function load(rows: Row[]): Promise<void> {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('DELETE FROM dispatcher');
      for (const r of rows) await client.query('INSERT INTO dispatcher (setid, destination) VALUES ($1, $2)', [r.setid, r.destination]);
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    await Promise.all([k1.reloadDispatcher(), k2.reloadDispatcher(), k3.reloadDispatcher()]);
  }

  /** Every node in set 1 (any call) and the given ones in set 2 (rooms). */
  const rows = (general: SippUas[], rooms: SippUas[]): Row[] => [
    ...general.map((u) => ({ setid: 1, destination: u.uri })),
    ...rooms.map((u) => ({ setid: 2, destination: u.uri })),
  ];

  async function pin(k: KamailioInstance, key: string): Promise<string | undefined> {
    const ans = await k.rpcRaw('htable.get', ['pins', key]);
    const body = ans.body as { result?: { item?: { value?: string } } };
    return body.result?.item?.value;
  }

  function expectAllOk(r: UacResult): void {
    expect({ successful: r.successful, failed: r.failed }, r.output.slice(-1500)).toEqual({ successful: r.calls.length, failed: 0 });
  }

  function nodeOf(callId: string): SippUas | undefined {
    return uas.find((u) => u.invites().some((i) => i.callId === callId));
  }

  it("pins a room at its first caller and keeps every later caller on that node while the set grows", async () => {
    await load(rows([a, b, c], [a]));
    const first = await runSippUac({ target: `127.0.0.1:${k1.sipPort}`, service: '3100', calls: 2, rate: 20 });
    expectAllOk(first);
    expect(a.count('INVITE')).toBe(2);
    expect(await pin(k1, '3100')).toMatch(new RegExp(`^${a.uri};at=\\d+;by=k1$`));

    // The set grows: a plain hash would now spread 3100's callers; the pin holds them.
    await load(rows([a, b, c], [a, b, c]));
    const rooms = Array.from({ length: 12 }, (_, i) => String(3110 + i));
    const later = await runSippUac({ target: `127.0.0.1:${k1.sipPort}`, service: ['3100', ...rooms], calls: 13, rate: 30 });
    expectAllOk(later);
    expect(nodeOf(later.calls[0]!.callId)).toBe(a);
    // New rooms are placed over the grown set (more than one node used).
    expect(new Set(later.calls.slice(1).map((cl) => nodeOf(cl.callId)?.uri)).size).toBeGreaterThan(1);
    expect(k1.output()).toMatch(new RegExp(`call_id=${later.calls[0]!.callId.replace(/[.]/g, '\\.')} kind=room ruser=3100 room=3100 key=3100 pin=hit dst=${a.uri}`));

    // The other Kamailio heard the pin on NATS: a caller arriving there joins the same node.
    await waitFor('k2 has the pin of 3100', async () => (await pin(k2, '3100'))?.startsWith(a.uri) === true, 5000, 20);
    expect(await pin(k2, '3100')).toMatch(/;by=k1$/);
    const there = await runSippUac({ target: `127.0.0.1:${k2.sipPort}`, service: '3100', calls: 2, rate: 20 });
    expectAllOk(there);
    for (const cl of there.calls) expect(nodeOf(cl.callId)).toBe(a);
  });

  it('ends the pin of a node that is no longer a destination: the next caller starts the room afresh', async () => {
    await load(rows([a, b], [a]));
    expectAllOk(await runSippUac({ target: `127.0.0.1:${k1.sipPort}`, service: '3200', calls: 1 }));
    expect((await pin(k1, '3200'))?.startsWith(a.uri)).toBe(true);
    await load(rows([b], [b])); // a is gone
    const r = await runSippUac({ target: `127.0.0.1:${k1.sipPort}`, service: '3200', calls: 1 });
    expectAllOk(r);
    expect(nodeOf(r.calls[0]!.callId)).toBe(b);
    expect((await pin(k1, '3200'))?.startsWith(b.uri)).toBe(true);
    expect(k1.output()).toContain(`sbc-pin key=3200 dst=${a.uri} ended: no longer a destination`);
  });

  it('moves the pin with the caller when its node does not answer; keeps it when the node refuses (5xx)', async () => {
    await load(rows([silent, a, b], [a]));
    // Pinned to the silent node (as if it had taken the room and then died).
    await k1.rpc('htable.sets', ['pins', '3300', `${silent.uri};at=1;by=test`]);
    const r = await runSippUac({ target: `127.0.0.1:${k1.sipPort}`, service: '3300', calls: 1, recvTimeoutMs: 8000 });
    expectAllOk(r);
    expect(silent.count('INVITE')).toBeGreaterThanOrEqual(1);
    expect(nodeOf(r.calls[0]!.callId)).toBe(a);
    expect((await pin(k1, '3300'))?.startsWith(a.uri)).toBe(true);
    expect(k1.output()).toMatch(/sbc-failover call_id=\S+ failed_dst=\S+ reason=timeout next=/);

    // A node that refuses this caller (503: full, paused) keeps the room's pin.
    await load(rows([refusing, a], [a]));
    await k1.rpc('htable.sets', ['pins', '3301', `${refusing.uri};at=1;by=test`]);
    const refused = await runSippUac({ target: `127.0.0.1:${k1.sipPort}`, service: '3301', calls: 1 });
    expectAllOk(refused);
    expect(refusing.count('INVITE')).toBe(1);
    expect(nodeOf(refused.calls[0]!.callId)).toBe(a);
    expect(await pin(k1, '3301')).toBe(`${refusing.uri};at=1;by=test`);
  });

  it('two Kamailios that placed one room differently end on the same pin: the earlier one', async () => {
    await load(rows([a, b], [a, b]));
    const late = Date.now();
    await k1.rpc('htable.sets', ['pins', '3400', `${a.uri};at=${late};by=k1`]);
    // k2's placement, made earlier, arrives on NATS: k1 takes it.
    nc.publish(SUBJECT, JSON.stringify({ v: 1, room: '3400', key: '3400', uri: b.uri, by: 'k2', at: late - 5 }));
    await waitFor('k1 adopts the earlier pin', async () => (await pin(k1, '3400'))?.startsWith(b.uri) === true, 5000, 20);
    // A later one does not displace it.
    nc.publish(SUBJECT, JSON.stringify({ v: 1, room: '3400', key: '3400', uri: a.uri, by: 'k2', at: late + 1000 }));
    // Malformed ones are refused and logged.
    nc.publish(SUBJECT, '{"v":1,"room":"3400","key":"3400","uri":"sip:1.2.3.4:5060\\"x","by":"k2","at":1}');
    nc.publish(SUBJECT, 'not json at all');
    await nc.flush();
    await k1.waitForLog(/sbc-pin refused: no valid \w+ in not json at all/, 5000);
    await k1.waitForLog(/sbc-pin key=3400 kept dst=\S+ over dst=\S+ by=k2 \(earlier\)/, 5000);
    expect((await pin(k1, '3400'))?.startsWith(b.uri)).toBe(true);
    // A batch, as routing.lua publishes them: each item taken on its own merits.
    nc.publish(
      SUBJECT,
      JSON.stringify({ v: 2, by: 'k2', pins: [{ room: '3401', key: '3401', uri: b.uri, at: late }, { room: '3400', key: '3400', uri: a.uri, at: late + 2000 }, { room: '3402', key: '3402-1', shard: 1, uri: a.uri, at: late }] }),
    );
    await waitFor('k1 takes the batch', async () => (await pin(k1, '3402-1')) !== undefined, 5000, 20);
    expect(await pin(k1, '3401')).toBe(`${b.uri};at=${late};by=k2`);
    expect(await pin(k1, '3402-1')).toBe(`${a.uri};at=${late};by=k2`);
    expect((await pin(k1, '3400'))?.startsWith(b.uri)).toBe(true);
    // A batch item that is not a pin is refused; the other items are still read.
    nc.publish(SUBJECT, JSON.stringify({ v: 2, by: 'k2', pins: [{ room: '3403', key: '3403', uri: 'sip:1.2.3.4:5060"x', at: 1 }, { room: '3404', key: '3404', uri: b.uri, at: late }] }));
    await waitFor('k1 takes the good item', async () => (await pin(k1, '3404')) !== undefined, 5000, 20);
    expect(await pin(k1, '3403')).toBeUndefined();
  });

  it('publishes the pins it makes in batches on NATS, each pin once', async () => {
    await load(rows([a, b], [a, b]));
    const heard: { by?: string; v?: number; pins?: { key: string; uri: string }[] }[] = [];
    const sub = nc.subscribe(SUBJECT, { callback: (_e, m) => {
        heard.push(JSON.parse(m.string()) as (typeof heard)[number]);
      }, });
    await nc.flush();
    const rooms = Array.from({ length: 80 }, (_, i) => String(3600 + i));
    await Promise.all(rooms.map((room, i) => raw.invite({ proxyPort: k1.sipPort, ruri: `sip:${room}@127.0.0.1:${k1.sipPort}`, fromUser: `batch${i}`, timeoutMs: 5000 })));
    const heardKeys = () => heard.filter((h) => h.by === 'k1').flatMap((h) => (h.pins ?? []).map((p) => p.key));
    await waitFor('every pin on NATS', () => heardKeys().length >= rooms.length, 5000, 20).catch((err: Error) => {
      throw new Error(`${err.message}: heard ${heardKeys().length}: ${heardKeys().sort().join(',')}; pinq ${JSON.stringify(k1.output().slice(-3000))}`);
    });
    await sleep(100);
    sub.unsubscribe();
    const mine = heard.filter((h) => h.by === 'k1');
    expect(mine.every((h) => h.v === 2 && (h.pins?.length ?? 0) >= 1 && (h.pins?.length ?? 0) <= 32)).toBe(true);
    const keys = mine.flatMap((h) => (h.pins ?? []).map((p) => p.key)).sort();
    expect(keys).toEqual([...rooms].sort());
    for (const p of mine.flatMap((h) => h.pins ?? [])) expect((await pin(k1, p.key))?.startsWith(p.uri)).toBe(true);
    // Nothing left in the queue once published.
    expect(await k1.rpc('htable.dump', ['natsq'])).toEqual([]);
  });

  it('a room header and domain scope keep two tenants\' room 3000 apart and stamp X-SBC-Room', async () => {
    await load(rows([busy], [busy]));
    const ta = await raw.invite({ proxyPort: k3.sipPort, ruri: 'sip:conference@tenant-a.example', headers: { 'X-Room': '3000', 'X-SBC-Room': 'forged' } });
    const tb = await raw.invite({ proxyPort: k3.sipPort, ruri: 'sip:conference@tenant-b.example', headers: { 'X-Room': '3000' } });
    expect([ta.final.status, tb.final.status]).toEqual([486, 486]);
    expect((await pin(k3, 'tenant-a.example/3000'))?.startsWith(busy.uri)).toBe(true);
    expect((await pin(k3, 'tenant-b.example/3000'))?.startsWith(busy.uri)).toBe(true);
    expect(await pin(k3, '3000')).toBeUndefined();
    const seen = busy.invites().find((i) => i.callId === ta.callId);
    expect(seen?.message.headers.get('x-sbc-room')).toEqual(['tenant-a.example/3000']);
    // Not a room: no pin, no header.
    const plain = await raw.invite({ proxyPort: k3.sipPort, ruri: 'sip:5000@tenant-a.example', headers: { 'X-Room': 'lobby' } });
    expect(plain.final.status).toBe(486);
    expect(busy.invites().find((i) => i.callId === plain.callId)?.message.headers.get('x-sbc-room')).toBeUndefined();
  });

  it('sends a marked cascade leg from a pool node to its explicit target only; refuses one from outside', async () => {
    await load(rows([busy, a], [a]));
    const link = { 'X-SBC-Cascade': 'lnk-1', 'X-SBC-Target': busy.uri, 'X-SBC-Room': '3500' };
    const outsider = await raw.invite({ proxyPort: k1.sipPort, ruri: `sip:3500@127.0.0.1:${k1.sipPort}`, headers: link });
    expect(outsider.final.status).toBe(403);
    expect(busy.count('INVITE') + a.count('INVITE')).toBe(0);

    await load([...rows([busy, a], [a]), { setid: 1, destination: raw.uri }]);
    const ok = await raw.invite({ proxyPort: k1.sipPort, ruri: `sip:3500@127.0.0.1:${k1.sipPort}`, headers: link });
    expect(ok.final.status).toBe(486);
    const got = busy.invites().find((i) => i.callId === ok.callId);
    expect(got?.message.headers.get('x-sbc-cascade')).toEqual(['lnk-1']);
    expect(a.count('INVITE')).toBe(0); // not hashed, not pinned
    expect(await pin(k1, '3500')).toBeUndefined();

    const bad = await raw.invite({ proxyPort: k1.sipPort, ruri: `sip:3500@127.0.0.1:${k1.sipPort}`, headers: { ...link, 'X-SBC-Target': 'sip:127.0.0.1:9' } });
    expect(bad.final.status).toBe(404);
    const stray = await raw.invite({ proxyPort: k1.sipPort, ruri: `sip:3500@127.0.0.1:${k1.sipPort}`, headers: { 'X-SBC-Target': busy.uri } });
    expect(stray.final.status).toBe(403);
  });
});
