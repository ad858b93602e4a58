import { createSocket } from 'node:dgram';
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/postgres/migrations.js';
import { startKamailio, type KamailioInstance } from '../support/kamailio.js';
import { createPostgresDatabase, type Service } from '../support/services.js';
import { runSippUac, startSippUas, type SippUas } from '../support/sipp.js';

/**
 * The test harness itself (parallel instances, restart, clean-up) and the edges of the
 * routing script that kamailio-routing.test.ts does not cover: the management socket,
 * requests Kamailio answers itself, CANCEL, TCP, and configuration from the environment.
 */

interface Row {
  setid: number;
  destination: string;
  priority: number;
}

async function newDatabase(): Promise<{ db: Service; pool: pg.Pool }> {
  const db = await createPostgresDatabase();
  const pool = new pg.Pool({ connectionString: db.url, max: 2 });
  await migrate(pool);
  return { db, pool };
}

async function loadRows(pool: pg.Pool, kam: KamailioInstance, rows: Row[]): Promise<void> {
  await pool.query('DELETE FROM dispatcher');
  for (const r of rows) {
    await pool.query('INSERT INTO dispatcher (setid, destination, priority) VALUES ($1, $2, $3)', [r.setid, r.destination, r.priority]);
  }
  await kam.reloadDispatcher();
}

function alive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Sends one SIP request over UDP and resolves the first final reply's status line. */
async function sipRequest(port: number, build: (localPort: number, tag: string) => string, timeoutMs = 3000): Promise<string> {
  const sock = createSocket('udp4');
  try {
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(0, '127.0.0.1', () => resolve());
    });
    const local = sock.address().port;
    const tag = randomBytes(6).toString('hex');
    const reply = new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no final reply within ${timeoutMs} ms`)), timeoutMs);
      sock.on('message', (buf) => {
        const first = buf.toString().split('\r\n')[0] ?? '';
        const code = Number(/^SIP\/2\.0 (\d{3})/.exec(first)?.[1] ?? 0);
        if (code >= 200) {
          clearTimeout(timer);
          resolve(first);
        }
      });
    });
    const text = build(local, tag).replace(/\r?\n/g, '\r\n');
    sock.send(text, port, '127.0.0.1');
    return await reply;
  } finally {
    sock.close();
  }
}

function request(method: string, kamPort: number, local: number, tag: string, extra = '', ruri = `sip:127.0.0.1:${kamPort}`): string {
  return [
    `${method} ${ruri} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${local};branch=z9hG4bK-${tag}`,
    `From: <sip:probe@127.0.0.1:${local}>;tag=${tag}`,
    `To: <${ruri}>${extra.includes('To-tag') ? ';tag=remote1' : ''}`,
    `Call-ID: ${tag}@127.0.0.1`,
    `CSeq: 1 ${method}`,
    `Max-Forwards: ${extra.includes('MF0') ? 0 : 70}`,
    'Content-Length: 0',
    '',
    '',
  ].join('\n');
}

describe('kamailio harness', () => {
  let shared: { db: Service; pool: pg.Pool };
  let kam: KamailioInstance;

  beforeAll(async () => {
    shared = await newDatabase();
    kam = await startKamailio({ dbUrl: shared.db.url });
  });

  afterAll(async () => {
    await kam?.stop();
    await shared?.pool.end();
    await shared?.db.stop();
  });

  it('runs several private Kamailios in parallel and leaves nothing behind', async () => {
    const many = await Promise.all([1, 2, 3].map(() => startKamailio({ dbUrl: shared.db.url })));
    try {
      const ports = many.flatMap((k) => [k.sipPort, k.rpcPort]);
      expect(new Set([...ports, kam.sipPort, kam.rpcPort]).size).toBe(8);
      for (const k of many) {
        expect(k.rpcUrl).toBe(`http://127.0.0.1:${k.rpcPort}/RPC`);
        expect(await k.rpc('core.version')).toMatch(/^kamailio 5\.6\./);
        expect(alive(k.pid)).toBe(true);
      }
    } finally {
      await Promise.all(many.map((k) => k.stop()));
    }
    for (const k of many) {
      expect(alive(k.pid)).toBe(false);
      await expect(fetch(k.rpcUrl, { method: 'POST', body: '{}', signal: AbortSignal.timeout(1000) })).rejects.toThrow();
    }
    // the -Y runtime dir is a temp dir that stop() removed
    for (const k of many) expect(existsSync(k.runtimeDir)).toBe(false);
  });

  it('restart() keeps the ports and starts from a clean memory state', async () => {
    const k = await startKamailio({ dbUrl: shared.db.url });
    try {
      const { sipPort, rpcPort } = k;
      await k.rpc('htable.seti', ['cascade', '3000', 2]);
      const before = k.pid;
      await k.restart();
      expect([k.sipPort, k.rpcPort]).toEqual([sipPort, rpcPort]);
      expect(k.pid).not.toBe(before);
      expect(alive(before)).toBe(false);
      await expect(k.rpc('htable.get', ['cascade', '3000'])).rejects.toThrow(/Key name doesn't exist/);
    } finally {
      await k.stop();
    }
  });

  it('serves JSON-RPC only on the management socket, only under /RPC', async () => {
    const onSip = await fetch(`http://127.0.0.1:${kam.sipPort}/RPC`, {
      method: 'POST',
      body: '{"jsonrpc":"2.0","method":"core.version","id":1}',
      signal: AbortSignal.timeout(3000),
    });
    expect(onSip.status).toBe(403);
    const otherPath = await fetch(`http://127.0.0.1:${kam.rpcPort}/metrics`, { signal: AbortSignal.timeout(3000) });
    expect(otherPath.status).toBe(404);
  });

  it('answers OPTIONS itself and refuses what the pool does not take', async () => {
    const p = kam.sipPort;
    expect(await sipRequest(p, (l, t) => request('OPTIONS', p, l, t))).toBe('SIP/2.0 200 OK');
    expect(await sipRequest(p, (l, t) => request('MESSAGE', p, l, t, '', `sip:1000@127.0.0.1:${p}`))).toBe('SIP/2.0 405 Method Not Allowed');
    expect(await sipRequest(p, (l, t) => request('CANCEL', p, l, t, '', `sip:1000@127.0.0.1:${p}`))).toBe('SIP/2.0 481 Call/Transaction Does Not Exist');
    expect(await sipRequest(p, (l, t) => request('BYE', p, l, t, 'To-tag', `sip:1000@127.0.0.1:${p}`))).toBe('SIP/2.0 404 Not here');
    expect(await sipRequest(p, (l, t) => request('INVITE', p, l, t, 'MF0', `sip:1000@127.0.0.1:${p}`))).toBe('SIP/2.0 483 Too Many Hops');
  });

  describe('with FreeSWITCH stand-ins', () => {
    let ringing: SippUas;
    let answering: SippUas;

    beforeAll(async () => {
      [ringing, answering] = await Promise.all([startSippUas({ responseCode: 'ring' }), startSippUas()]);
    });

    afterAll(async () => {
      await Promise.allSettled([ringing?.stop(), answering?.stop()]);
    });

    it('relays a CANCEL to the ringing node and the 487 back to the caller', async () => {
      await loadRows(shared.pool, kam, [{ setid: 1, destination: ringing.uri, priority: 1 }]);
      const r = await runSippUac({ target: `127.0.0.1:${kam.sipPort}`, service: '1000', calls: 2, rate: 10, scenario: 'cancel', holdMs: 200 });
      expect(r.calls.map((c) => [c.cancelStatus, c.inviteStatus]), r.output.slice(-2000)).toEqual([
        [200, 487],
        [200, 487],
      ]);
      expect(r.successful).toBe(2);
      await ringing.waitForCount('ACK', 2);
      expect(ringing.count('CANCEL')).toBe(2);
      // a canceled call is not a node failure: no failover, no mark
      expect(kam.output()).not.toMatch(/sbc-failover/);
    });

    it('carries calls that arrive over TCP to a UDP node, BYE included', async () => {
      await loadRows(shared.pool, kam, [{ setid: 1, destination: answering.uri, priority: 1 }]);
      answering.reset();
      const r = await runSippUac({ target: `127.0.0.1:${kam.sipPort}`, service: '1000', calls: 3, rate: 10, transport: 'tcp' });
      expect({ ok: r.successful, codes: r.statusCodes }, r.output.slice(-2000)).toEqual({ ok: 3, codes: { '200': 3 } });
      expect(answering.count('INVITE')).toBe(3);
      expect(answering.count('BYE')).toBe(3);
      expect(answering.invites()[0]?.message.transport).toBe('UDP');
    });
  });

  it('reads the routing variables from the environment (and alg 3 hashes the R-URI user only)', async () => {
    const own = await newDatabase();
    const [k, general, ...roomNodes] = await Promise.all([
      startKamailio({
        dbUrl: own.db.url,
        env: { SBC_ROOM_PATTERN: '^9[0-9]{2}$', SBC_DS_SET_GENERAL: '11', SBC_DS_SET_ROOMS: '12', SBC_DS_ALG_ROOMS: '3', SBC_DS_ALG_GENERAL: '4' },
      }),
      startSippUas(),
      startSippUas(),
      startSippUas(),
      startSippUas(),
    ]);
    try {
      await loadRows(own.pool, k, [
        { setid: 11, destination: general.uri, priority: 1 },
        ...roomNodes.map((u, i) => ({ setid: 12, destination: u.uri, priority: 10 - i })),
      ]);
      const rooms = ['900', '901', '902', '903', '904', '905'];
      const r = await runSippUac({ target: `127.0.0.1:${k.sipPort}`, service: [...rooms, '3000', ...rooms], calls: 13, rate: 20 });
      expect(r.successful, r.output.slice(-2000)).toBe(13);
      expect(general.invites().map((i) => i.ruriUser)).toEqual(['3000']); // 3xxx is not a room here
      // The R-URI is sip:90x@127.0.0.1:<port>; only the user is hashed (dispatcher flags bit 1),
      // so Kamailio's dispatcher.hash of the bare room number predicts the node.
      for (const room of rooms) {
        const { slot } = (await k.rpc('dispatcher.hash', [roomNodes.length, room])) as { slot: number };
        const expected = roomNodes[slot];
        for (const u of roomNodes) {
          const got = u.invites().filter((i) => i.ruriUser === room).length;
          expect(got, `room ${room} at ${u.uri}`).toBe(u === expected ? 2 : 0);
        }
      }
      expect(k.output()).toMatch(/kind=room ruser=900 set=12 alg=3 /);
      expect(k.output()).toMatch(/kind=general ruser=3000 set=11 alg=4 /);
    } finally {
      await Promise.allSettled([k.stop(), general.stop(), ...roomNodes.map((u) => u.stop())]);
      await own.pool.end();
      await own.db.stop();
    }
  });

  it('refuses to start when a routing variable is invalid', async () => {
    await expect(startKamailio({ dbUrl: shared.db.url, env: { SBC_DS_ALG_GENERAL: 'abc' }, startTimeoutMs: 8000 })).rejects.toThrow(
      /SBC_DS_ALG_GENERAL="abc" must be a whole number/,
    );
  });
});
