import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/postgres/migrations.js';
import { startKamailio, type KamailioInstance } from '../support/kamailio.js';
import { createPostgresDatabase, type Service } from '../support/services.js';
import { runSippUac, startSippUas, type SippUas, type UacResult } from '../support/sipp.js';

/**
 * Real Postgres + real Kamailio 5.6.3 (kamailio/kamailio.cfg + lua/routing.lua) + real sipp.
 * Destinations are written into the `dispatcher` table and loaded with dispatcher.reload,
 * exactly as the control plane does it.
 *
 * The JSON-RPC answers captured under test/fixtures/kamailio/rpc-*.json are compared with
 * the live answers; run with CAPTURE_KAMAILIO_FIXTURES=1 to rewrite them.
 */

const FIXTURES = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'kamailio');
const CAPTURE = process.env.CAPTURE_KAMAILIO_FIXTURES === '1';

interface Row {
  setid: number;
  destination: string;
  flags?: number;
  priority?: number;
  attrs?: string;
  description?: string;
}

interface Dest {
  uri: string;
  flags: string;
  priority: number;
}

/** dispatcher.list result -> set id -> destinations in Kamailio's order. */
function parseList(result: unknown): Map<number, Dest[]> {
  const sets = new Map<number, Dest[]>();
  const records = (result as { RECORDS?: { SET: { ID: number; TARGETS: { DEST: { URI: string; FLAGS: string; PRIORITY: number } }[] } }[] }).RECORDS ?? [];
  for (const r of records) {
    sets.set(
      r.SET.ID,
      r.SET.TARGETS.map((t) => ({ uri: t.DEST.URI, flags: t.DEST.FLAGS, priority: t.DEST.PRIORITY })),
    );
  }
  return sets;
}

/** Same djb2 as lua/routing.lua: which cascade shard a caller lands in. */
function djb2(s: string): number {
  let h = 5381;
  for (let i = 0; i < s.length; i++) h = (h * 33 + s.charCodeAt(i)) % 4294967296;
  return h;
}

describe('kamailio routing (real Kamailio, Postgres, sipp)', () => {
  let db: Service;
  let pool: pg.Pool;
  let kam: KamailioInstance;
  let uasA: SippUas;
  let uasB: SippUas;
  let uasC: SippUas;
  let uas503: SippUas;
  let uasSilent: SippUas;
  let all: SippUas[];
  let target: string;

  beforeAll(async () => {
    db = await createPostgresDatabase();
    pool = new pg.Pool({ connectionString: db.url, max: 2 });
    await migrate(pool);
    const [k, ...peers] = await Promise.allSettled([
      startKamailio({ dbUrl: db.url, frTimerMs: 1000 }),
      startSippUas(),
      startSippUas(),
      startSippUas(),
      startSippUas({ responseCode: 503 }),
      startSippUas({ responseCode: 'none' }),
    ]);
    // keep whatever started so afterAll can stop it, then report the first failure
    if (k.status === 'fulfilled') kam = k.value;
    all = peers.flatMap((p) => (p.status === 'fulfilled' ? [p.value] : []));
    const failure = [k, ...peers].find((p) => p.status === 'rejected');
    if (failure) throw failure.reason;
    [uasA, uasB, uasC, uas503, uasSilent] = all as [SippUas, SippUas, SippUas, SippUas, SippUas];
    target = `127.0.0.1:${kam.sipPort}`;
  });

  afterAll(async () => {
    await Promise.allSettled([kam?.stop(), ...(all ?? []).map((u) => u.stop())]);
    await pool?.end();
    await db?.stop();
  });

  /** Replaces the dispatcher table and reloads (retrying while Kamailio says "Ongoing reload"). */
  async function load(rows: Row[]): Promise<void> {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('DELETE FROM dispatcher');
      for (const r of rows) {
        await client.query('INSERT INTO dispatcher (setid, destination, flags, priority, attrs, description) VALUES ($1, $2, $3, $4, $5, $6)', [
          r.setid,
          r.destination,
          r.flags ?? 0,
          r.priority ?? 0,
          r.attrs ?? '',
          r.description ?? '',
        ]);
      }
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    await reload();
    for (const u of all) u.reset();
  }

  async function reload(): Promise<void> {
    await kam.reloadDispatcher();
  }

  async function list(): Promise<Map<number, Dest[]>> {
    return parseList(await kam.rpc('dispatcher.list'));
  }

  /** Which UAS took each call (by Call-ID), from what the UASes received. */
  function whereCallsWent(): Map<string, SippUas> {
    const m = new Map<string, SippUas>();
    for (const u of all) for (const inv of u.invites()) m.set(inv.callId, u);
    return m;
  }

  function expectAllOk(r: UacResult): void {
    expect({ successful: r.successful, failed: r.failed, codes: r.statusCodes }, r.output.slice(-2000)).toEqual({
      successful: r.calls.length,
      failed: 0,
      codes: { '200': r.calls.length },
    });
  }

  /** Compares a live JSON-RPC answer with the committed fixture (or writes it when capturing). */
  function fixture(name: string, request: { method: string; params: unknown[] }, answer: { httpStatus: number; body: unknown }): void {
    const file = join(FIXTURES, name);
    const doc = { kamailio: '5.6.3', request: { jsonrpc: '2.0', method: request.method, params: request.params, id: 1 }, httpStatus: answer.httpStatus, response: answer.body };
    if (CAPTURE) {
      mkdirSync(FIXTURES, { recursive: true });
      writeFileSync(file, `${JSON.stringify(doc, null, 2)}\n`);
      return;
    }
    expect(doc, `live answer differs from ${name}; rerun with CAPTURE_KAMAILIO_FIXTURES=1 if Kamailio changed`).toEqual(JSON.parse(readFileSync(file, 'utf8')));
  }

  async function capture(name: string, method: string, params: unknown[] = []): Promise<{ httpStatus: number; body: unknown }> {
    const answer = await kam.rpcRaw(method, params);
    fixture(name, { method, params }, answer);
    return answer;
  }

  it('dispatcher.list before any set is loaded answers error 500 "No Destination Sets"', async () => {
    // Kamailio started on an empty dispatcher table.
    const answer = await capture('rpc-dispatcher-list-no-sets.json', 'dispatcher.list');
    expect(answer.httpStatus).toBe(500);
    expect(answer.body).toEqual({ jsonrpc: '2.0', error: { code: 500, message: 'No Destination Sets' }, id: 1 });
  });

  it('spreads general calls round-robin across the general set (30 calls -> 10/10/10)', async () => {
    await load([
      { setid: 1, destination: uasA.uri, priority: 30, attrs: 'duid=a' },
      { setid: 1, destination: uasB.uri, priority: 20, attrs: 'duid=b' },
      { setid: 1, destination: uasC.uri, priority: 10, attrs: 'duid=c' },
    ]);
    const order = (await list()).get(1)?.map((d) => d.uri);
    expect(order).toEqual([uasA.uri, uasB.uri, uasC.uri]); // highest priority first

    // 100 ms apart: the order of selection is the order Kamailio's workers take the INVITEs,
    // which is sipp's order only while no two are in flight at once.
    const r = await runSippUac({ target, service: '1000', calls: 30, rate: 10 });
    expectAllOk(r);
    expect([uasA.count('INVITE'), uasB.count('INVITE'), uasC.count('INVITE')]).toEqual([10, 10, 10]);
    // nothing leaks to the UASes that are not in the set
    expect(uas503.count() + uasSilent.count()).toBe(0);
    // round robin in list order, restarting at index 0 after the reload
    const went = whereCallsWent();
    const sequence = r.calls.map((c) => went.get(c.callId)?.uri);
    expect(sequence.slice(0, 6)).toEqual([uasA.uri, uasB.uri, uasC.uri, uasA.uri, uasB.uri, uasC.uri]);
    expect(kam.output()).toMatch(/sbc-route call_id=\S+ kind=general ruser=1000 set=1 alg=4 key= dst=sip:127\.0\.0\.1:\d+/);

    // A reload resets the round-robin position: one call moves it to B, the reload puts it back on A.
    const one = await runSippUac({ target, service: '1000', calls: 1 });
    expectAllOk(one);
    await reload();
    for (const u of all) u.reset();
    const three = await runSippUac({ target, service: '1000', calls: 3, rate: 10 });
    expectAllOk(three);
    const wentAfter = whereCallsWent();
    expect(three.calls.map((c) => wentAfter.get(c.callId)?.uri)).toEqual([uasA.uri, uasB.uri, uasC.uri]);
  });

  it('relays the BYE (in-dialog) through Kamailio along the Record-Route set', async () => {
    await load([{ setid: 1, destination: uasA.uri, priority: 1 }]);
    const r = await runSippUac({ target, service: '1001', calls: 3, rate: 10 });
    expectAllOk(r);
    // The caller got Kamailio's Record-Route in the 200 and sent the BYE with a Route to it.
    const ok200 = r.messages.find((m) => m.direction === 'received' && m.status === 200 && m.cseqMethod === 'INVITE');
    expect(ok200?.headers.get('record-route')?.join(',')).toContain(`127.0.0.1:${kam.sipPort};lr`);
    const byeSent = r.messages.find((m) => m.direction === 'sent' && m.method === 'BYE');
    expect(byeSent?.ruri).toBe(`sip:uas@127.0.0.1:${uasA.port};transport=UDP`); // the callee's Contact
    expect(byeSent?.headers.get('route')?.join(',')).toContain(`127.0.0.1:${kam.sipPort};lr`);
    // The callee received each BYE from Kamailio: two Vias (Kamailio's on top), Route consumed.
    const byes = uasA.requests('BYE');
    expect(byes).toHaveLength(3);
    for (const bye of byes) {
      expect(bye.viaCount).toBe(2);
      expect(bye.message.headers.get('via')?.[0]).toContain(`127.0.0.1:${kam.sipPort}`);
      expect(bye.route).toEqual([]);
    }
    for (const c of r.calls) expect(kam.output()).toContain(`sbc-indialog call_id=${c.callId} method=BYE`);
  });

  it('sends every call of one room to the same node, spreads different rooms (alg 2, To user hash)', async () => {
    await load([
      { setid: 1, destination: uasA.uri, priority: 30 },
      { setid: 2, destination: uasA.uri, priority: 30 },
      { setid: 2, destination: uasB.uri, priority: 20 },
      { setid: 2, destination: uasC.uri, priority: 10 },
    ]);
    const rooms = ['3001', '3002', '3003', '3004', '3005', '3006'];
    const services = [...rooms, ...rooms, ...rooms]; // interleaved: 3 callers per room
    const r = await runSippUac({ target, service: services, calls: services.length, rate: 30 });
    expectAllOk(r);

    const went = whereCallsWent();
    const roomNode = new Map<string, Set<string>>();
    for (const c of r.calls) {
      const node = went.get(c.callId)?.uri ?? 'none';
      roomNode.set(c.service, (roomNode.get(c.service) ?? new Set()).add(node));
    }
    for (const room of rooms) expect([...(roomNode.get(room) ?? [])], `room ${room}`).toHaveLength(1);
    const used = new Set([...roomNode.values()].map((s) => [...s][0]));
    expect(used.size).toBeGreaterThanOrEqual(2);

    // Kamailio's own hash predicts the node: slot = hash(room) % nr, index into the set's list order.
    const set2 = (await list()).get(2) ?? [];
    for (const room of rooms) {
      const h = (await kam.rpc('dispatcher.hash', [set2.length, room])) as { slot: number };
      expect([...(roomNode.get(room) ?? [])][0], `room ${room}`).toBe(set2[h.slot]?.uri);
    }
    expect(kam.output()).toMatch(/kind=room ruser=3001 set=2 alg=2 key=3001 dst=/);
  });

  it('routes a room listed in htable "cascade" through set 3 with alg 7 over "<room>-<shard>"', async () => {
    await load([
      { setid: 2, destination: uasA.uri, priority: 10 },
      { setid: 3, destination: uasB.uri, priority: 20 },
      { setid: 3, destination: uasC.uri, priority: 10 },
    ]);
    const room = '3300';
    const callers = Array.from({ length: 12 }, (_, i) => `member${i + 1}`);

    // Not a cascade room yet: the whole room goes to set 2 (only A).
    const before = await runSippUac({ target, service: room, callers, calls: 4, rate: 20 });
    expectAllOk(before);
    expect(uasA.count('INVITE')).toBe(4);

    const shards = 4;
    expect(await kam.rpc('htable.seti', ['cascade', room, shards])).toBe('Ok. Key set to new value.');
    for (const u of all) u.reset();
    const r = await runSippUac({ target, service: room, callers, calls: callers.length, rate: 30 });
    expectAllOk(r);
    expect(uasA.count('INVITE')).toBe(0); // set 2 is no longer used for this room

    const set3 = (await list()).get(3) ?? [];
    const went = whereCallsWent();
    const nodes = new Set<string>();
    for (const c of r.calls) {
      const key = `${room}-${djb2(c.caller) % shards}`;
      const h = (await kam.rpc('dispatcher.hash', [set3.length, key])) as { slot: number };
      const node = went.get(c.callId)?.uri;
      expect(node, `${c.caller} key ${key}`).toBe(set3[h.slot]?.uri);
      if (node) nodes.add(node);
      expect(kam.output()).toContain(`sbc-route call_id=${c.callId} kind=cascade ruser=${room} set=3 alg=7 key=${key} dst=${node}`);
    }
    expect(nodes.size).toBe(2); // both cascade nodes take part

    // A string value (htable.sets) works too; deleting the entry ends the cascade.
    await kam.rpc('htable.sets', ['cascade', '3301', '2']);
    for (const u of all) u.reset();
    const viaString = await runSippUac({ target, service: '3301', calls: 2, rate: 20 });
    expectAllOk(viaString);
    expect(uasB.count('INVITE') + uasC.count('INVITE')).toBe(2);
    await kam.rpc('htable.delete', ['cascade', room]);
    await kam.rpc('htable.delete', ['cascade', '3301']);
    for (const u of all) u.reset();
    const after = await runSippUac({ target, service: room, callers, calls: 2, rate: 20 });
    expectAllOk(after);
    expect(uasA.count('INVITE')).toBe(2);
  });

  it('never relays a call to itself: a destination at its own address is skipped and marked inactive', async () => {
    await load([
      { setid: 1, destination: kam.sipUri, priority: 20, attrs: 'duid=self' },
      { setid: 1, destination: uasA.uri, priority: 10, attrs: 'duid=a' },
    ]);
    const r = await runSippUac({ target, service: '1000', calls: 4, rate: 20 });
    expectAllOk(r);
    expect(uasA.count('INVITE')).toBe(4);
    expect(kam.output()).toMatch(new RegExp(`sbc-route call_id=\\S+ kind=general set=1 dst=${kam.sipUri.replaceAll('.', '\\.')} is this Kamailio: skipped \\(loop\\)`));
    const self = (await list()).get(1)?.find((d) => d.uri === kam.sipUri);
    expect(self?.flags.charAt(0)).toBe('I');
    // Each call was routed once, to uasA: none came back in through Kamailio.
    for (const c of r.calls) {
      const routed = kam.output().match(new RegExp(`sbc-route call_id=${c.callId.replaceAll('.', '\\.')} kind=general ruser=1000 set=1 alg=4 key= dst=\\S+`, 'g'));
      expect(routed).toEqual([`sbc-route call_id=${c.callId} kind=general ruser=1000 set=1 alg=4 key= dst=${uasA.uri}`]);
    }
  });

  it('lists its listen and advertised sockets with corex.list_sockets (fixture for the address book)', async () => {
    const advertised = await startKamailio({ dbUrl: db.url, env: { SBC_SIP_ADVERTISE: '192.0.2.10' } });
    try {
      const answer = await advertised.rpcRaw('corex.list_sockets');
      // Ports are whatever was free; the fixture holds the defaults instead.
      const normalised = JSON.parse(
        JSON.stringify(answer.body).replaceAll(`"${advertised.sipPort}"`, '"5060"').replaceAll(`"${advertised.rpcPort}"`, '"5071"'),
      ) as unknown;
      fixture('rpc-corex-list-sockets.json', { method: 'corex.list_sockets', params: [] }, { httpStatus: answer.httpStatus, body: normalised });
      expect(answer.httpStatus).toBe(200);
    } finally {
      await advertised.stop();
    }
  });

  it('answers 503 when the set is empty or every destination is inactive', async () => {
    await load([{ setid: 2, destination: uasA.uri, priority: 10 }]); // nothing in set 1
    const empty = await runSippUac({ target, service: '1000', calls: 2, rate: 20 });
    expect(empty.statusCodes).toEqual({ '503': 2 });
    expect(empty.successful).toBe(0);
    expect(kam.output()).toMatch(/kind=general ruser=1000 set=1 alg=4 key= dst=none result=503/);

    await load([
      { setid: 1, destination: uasA.uri, priority: 20 },
      { setid: 1, destination: uasB.uri, priority: 10, flags: 4 }, // disabled in the DB
    ]);
    await kam.rpc('dispatcher.set_state', ['i', 1, uasA.uri]);
    const inactive = await runSippUac({ target, service: '1000', calls: 2, rate: 20 });
    expect(inactive.statusCodes).toEqual({ '503': 2 });
    expect(uasA.count() + uasB.count()).toBe(0);
  });

  it('fails over to the next destination when one answers 503, without marking it', async () => {
    await load([
      { setid: 1, destination: uas503.uri, priority: 20 },
      { setid: 1, destination: uasA.uri, priority: 10 },
    ]);
    const r = await runSippUac({ target, service: '1000', calls: 4, rate: 10 });
    expectAllOk(r);
    expect(uas503.count('INVITE')).toBe(2); // round robin still picks it every other call
    expect(uasA.count('INVITE')).toBe(4); // its own 2 + the 2 failovers
    expect(kam.output()).toMatch(new RegExp(`sbc-failover call_id=\\S+ failed_dst=${uas503.uri} reason=status-503 next=${uasA.uri}`));
    const flags = (await list()).get(1)?.map((d) => d.flags);
    expect(flags).toEqual(['AX', 'AX']);
  });

  it('fails over when a destination does not answer (fr_timer) and marks it inactive', async () => {
    await load([
      { setid: 1, destination: uasSilent.uri, priority: 20 },
      { setid: 1, destination: uasA.uri, priority: 10 },
    ]);
    const started = Date.now();
    // one call at a time, so the mark from the first call is in place for the next ones
    const r = await runSippUac({ target, service: '1000', calls: 4, rate: 10, concurrency: 1 });
    expectAllOk(r);
    expect(Date.now() - started).toBeLessThan(6000);
    expect(uasSilent.count('INVITE')).toBe(1); // only the first call; then it is inactive
    expect(uasA.count('INVITE')).toBe(4);
    expect(kam.output()).toMatch(new RegExp(`sbc-failover call_id=\\S+ failed_dst=${uasSilent.uri} reason=timeout next=${uasA.uri}`));
    const set1 = (await list()).get(1) ?? [];
    expect(set1.map((d) => [d.uri, d.flags])).toEqual([
      [uasSilent.uri, 'IX'],
      [uasA.uri, 'AX'],
    ]);
  });

  it('passes the failure upstream when no destination is left', async () => {
    await load([{ setid: 1, destination: uas503.uri, priority: 10 }]);
    const rejected = await runSippUac({ target, service: '1000', calls: 1, rate: 10 });
    // A proxy must not relay a 503 upstream (RFC 3261 16.7): Kamailio's tm turns it into 500.
    expect(rejected.statusCodes).toEqual({ '500': 1 });
    expect(kam.output()).toMatch(/sbc-failover call_id=\S+ failed_dst=\S+ reason=status-503 next=none/);

    await load([{ setid: 1, destination: uasSilent.uri, priority: 10 }]);
    const silent = await runSippUac({ target, service: '1000', calls: 1, rate: 10 });
    expect(silent.statusCodes).toEqual({ '408': 1 }); // tm's local timeout reply
  });

  it('captures dispatcher.list / reload / set_state answers (fixtures for the JSON-RPC client)', async () => {
    // Addresses are never contacted (no probing), so the answers are deterministic.
    await load([
      { setid: 1, destination: 'sip:10.0.0.11:5060', priority: 30, attrs: 'duid=fs-a;weight=50', description: 'fs-a' },
      { setid: 1, destination: 'sip:10.0.0.12:5060', priority: 20, attrs: 'duid=fs-b;weight=30', description: 'fs-b' },
      { setid: 1, destination: 'sip:10.0.0.13:5060', priority: 10, flags: 4, attrs: 'duid=fs-c;weight=20', description: 'fs-c disabled' },
      { setid: 2, destination: 'sip:10.0.0.21:5080', priority: 0, flags: 1, attrs: 'duid=r1' },
      { setid: 2, destination: 'sip:10.0.0.22:5080', priority: 0, attrs: 'duid=r2' },
      { setid: 2, destination: 'sip:10.0.0.23:5080', priority: 0, flags: 8, attrs: 'duid=r3' },
      { setid: 3, destination: 'sip:10.0.0.31:5060;transport=tcp', priority: 5, flags: 2, attrs: '' },
    ]);
    const listed = await capture('rpc-dispatcher-list.json', 'dispatcher.list');
    expect(listed.httpStatus).toBe(200);
    const sets = parseList((listed.body as { result: unknown }).result);
    expect(sets.get(1)?.map((d) => d.priority)).toEqual([30, 20, 10]);
    expect(sets.get(2)?.map((d) => d.uri)).toEqual(['sip:10.0.0.23:5080', 'sip:10.0.0.22:5080', 'sip:10.0.0.21:5080']); // equal priority: reverse of insert order
    await capture('rpc-dispatcher-list-short.json', 'dispatcher.list', ['short']);

    // A second reload inside reload_delta is refused; set_state in the window is not.
    let ongoing: { httpStatus: number; body: unknown } | undefined;
    for (let attempt = 0; attempt < 5 && !ongoing; attempt++) {
      await sleep(1100);
      const first = await kam.rpcRaw('dispatcher.reload');
      expect(first.httpStatus).toBe(200);
      const stateAnswer = await kam.rpcRaw('dispatcher.set_state', ['ip', 1, 'sip:10.0.0.12:5060']);
      const second = await kam.rpcRaw('dispatcher.reload');
      if (second.httpStatus === 200) continue; // crossed a wall-clock second: try again
      ongoing = second;
      fixture('rpc-dispatcher-reload-ok.json', { method: 'dispatcher.reload', params: [] }, first);
      fixture('rpc-dispatcher-set-state-ok.json', { method: 'dispatcher.set_state', params: ['ip', 1, 'sip:10.0.0.12:5060'] }, stateAnswer);
      fixture('rpc-dispatcher-reload-ongoing.json', { method: 'dispatcher.reload', params: [] }, second);
    }
    expect(ongoing?.body).toEqual({ jsonrpc: '2.0', error: { code: 500, message: 'Ongoing reload' }, id: 1 });
    const afterState = await capture('rpc-dispatcher-list-after-set-state.json', 'dispatcher.list');
    expect(parseList((afterState.body as { result: unknown }).result).get(1)?.map((d) => d.flags)).toEqual(['AX', 'IP', 'DX']);

    // Wrong address / set: an error, not a silent no-op.
    await capture('rpc-dispatcher-set-state-unknown.json', 'dispatcher.set_state', ['ip', 1, 'sip:10.0.0.99:5060']);
    await capture('rpc-dispatcher-set-state-set-as-string.json', 'dispatcher.set_state', ['ip', '1', 'sip:10.0.0.12:5060']);
    await capture('rpc-dispatcher-set-state-bad-state.json', 'dispatcher.set_state', ['x', 1, 'sip:10.0.0.12:5060']);
    await capture('rpc-dispatcher-set-state-missing-param.json', 'dispatcher.set_state', ['ip', 1]);

    // "all" re-activates even what the table says is disabled (until the next reload).
    await kam.rpc('dispatcher.set_state', ['a', 1, 'all']);
    expect((await list()).get(1)?.map((d) => d.flags)).toEqual(['AX', 'AX', 'AX']);

    // The next reload resets runtime state to what the table says.
    await reload();
    expect((await list()).get(1)?.map((d) => d.flags)).toEqual(['AX', 'AX', 'DX']);
    await capture('rpc-dispatcher-list-full.json', 'dispatcher.list', ['full']);

    // A reload that cannot read the table fails, keeps the loaded list, and still opens the window.
    await pool.query('ALTER TABLE dispatcher RENAME TO dispatcher_away');
    try {
      let failedThenOngoing = false;
      for (let attempt = 0; attempt < 5 && !failedThenOngoing; attempt++) {
        await sleep(1100);
        const failed = await kam.rpcRaw('dispatcher.reload');
        const next = await kam.rpcRaw('dispatcher.reload');
        fixture('rpc-dispatcher-reload-failed.json', { method: 'dispatcher.reload', params: [] }, failed);
        failedThenOngoing = (next.body as { error?: { message?: string } }).error?.message === 'Ongoing reload';
      }
      expect(failedThenOngoing).toBe(true);
      expect((await list()).get(1)?.map((d) => d.uri)).toEqual(['sip:10.0.0.11:5060', 'sip:10.0.0.12:5060', 'sip:10.0.0.13:5060']);
    } finally {
      await pool.query('ALTER TABLE dispatcher_away RENAME TO dispatcher');
    }

    // How long a refused reload has to wait with reload_delta = 1 (whole seconds, time(NULL)).
    await sleep(1100);
    await kam.rpc('dispatcher.reload');
    const t0 = Date.now();
    let refusals = 0;
    for (;;) {
      const a = await kam.rpcRaw('dispatcher.reload');
      if (a.httpStatus === 200) break;
      refusals++;
      expect(Date.now() - t0).toBeLessThan(2500);
      await sleep(50);
    }
    // accepted again when the wall-clock second changes: <= 1 s plus polling and RPC latency
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(refusals).toBeGreaterThan(0);

    // An empty table reloads fine; dispatcher.list then answers the same error as at start-up.
    await load([]);
    await capture('rpc-dispatcher-list-empty.json', 'dispatcher.list');

    // htable answers the control plane will see when it manages cascades.
    await kam.rpc('htable.flush', ['cascade']);
    await capture('rpc-htable-dump-empty.json', 'htable.dump', ['cascade']);
    await capture('rpc-htable-seti-ok.json', 'htable.seti', ['cascade', '3900', 3]);
    await capture('rpc-htable-sets-ok.json', 'htable.sets', ['cascade', '3901', '2']);
    await capture('rpc-htable-dump-cascade.json', 'htable.dump', ['cascade']);
    await capture('rpc-htable-get-missing.json', 'htable.get', ['cascade', '3999']);
    await capture('rpc-htable-delete-ok.json', 'htable.delete', ['cascade', '3900']);
    await capture('rpc-htable-delete-missing.json', 'htable.delete', ['cascade', '3900']);
    await capture('rpc-htable-dump-no-table.json', 'htable.dump', ['nosuch']);
    await kam.rpc('htable.delete', ['cascade', '3901']);

    // An unknown method is an error object too.
    await capture('rpc-unknown-method.json', 'dispatcher.nosuch');

    // Malformed requests, sent raw.
    const post = async (body: string, timeoutMs = 3000) => {
      const res = await fetch(kam.rpcUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal: AbortSignal.timeout(timeoutMs) });
      return { status: res.status, body: await res.text() };
    };
    expect(await post('{"jsonrpc":"2.0","method":"core.version"}')).toEqual({ status: 200, body: '{"jsonrpc":"2.0","result":"kamailio 5.6.3 (x86_64/linux) "}' });
    expect(await post('{"jsonrpc":"2.0","id":7}')).toEqual({ status: 200, body: '{"jsonrpc":"2.0","result":{},"id":7}' });
    // not JSON: Kamailio never answers, the client has to time out
    await expect(post('this is not json', 1000)).rejects.toThrow(/abort|timeout/i);
  });
});
