import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDispatcherList } from '../../../src/kamailio/answers.js';
import { HttpKamailioRpc } from '../../../src/kamailio/httpKamailioRpc.js';
import { KamailioReloadPendingError, KamailioRpcError, KamailioUnreachableError } from '../../../src/kamailio/errors.js';

/** Real answers of Kamailio 5.6.3, captured by test/integration/kamailio-routing.test.ts. */
const capture = (name: string) =>
  JSON.parse(readFileSync(new URL(`../../fixtures/kamailio/rpc-${name}.json`, import.meta.url), 'utf8')) as {
    httpStatus: number;
    response: unknown;
  };

describe('parseDispatcherList on real Kamailio 5.6.3 answers', () => {
  it('reads every destination with set, state letters, priority and raw attrs', () => {
    const { response } = capture('dispatcher-list');
    const snap = parseDispatcherList((response as { result: unknown }).result);
    const bySet = (id: number) => snap.destinations.filter((d) => d.setId === id).map((d) => [d.uri, d.flags, d.priority, d.attrs]);
    expect(bySet(1)).toEqual([
      ['sip:10.0.0.11:5060', 'AX', 30, 'duid=fs-a;weight=50'],
      ['sip:10.0.0.12:5060', 'AX', 20, 'duid=fs-b;weight=30'],
      ['sip:10.0.0.13:5060', 'DX', 10, 'duid=fs-c;weight=20'],
    ]);
    expect(bySet(3)).toEqual([['sip:10.0.0.31:5060;transport=tcp', 'TX', 5, '']]);
    expect(snap.destinations).toHaveLength(7);
  });

  it('sees the effect of set_state ip', () => {
    const snap = parseDispatcherList((capture('dispatcher-list-after-set-state').response as { result: unknown }).result);
    expect(snap.destinations.find((d) => d.uri === 'sip:10.0.0.12:5060')?.flags).toBe('IP');
  });

  it('refuses a shape it does not know instead of returning an empty set', () => {
    expect(() => parseDispatcherList({ RECORDS: [{ SET: { ID: 1, TARGETS: [{ DEST: { URI: 5 } }] } }] })).toThrow(/DEST.URI/);
    expect(() => parseDispatcherList('x')).toThrow();
  });
});

describe('HttpKamailioRpc against recorded answers', () => {
  let server: Server;
  let url: string;
  let answer: { httpStatus: number; response: unknown } | 'hang' | 'garbage' = capture('dispatcher-list');
  const received: unknown[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        received.push(JSON.parse(body));
        if (answer === 'hang') return;
        if (answer === 'garbage') return res.writeHead(502).end('<html>bad gateway</html>');
        res.writeHead(answer.httpStatus, { 'content-type': 'application/json' }).end(JSON.stringify(answer.response));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const addr = server.address();
    url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/RPC`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it('maps "No Destination Sets" to an empty list, exactly that error', async () => {
    answer = capture('dispatcher-list-no-sets');
    await expect(new HttpKamailioRpc(url, 1000).list()).resolves.toEqual({ destinations: [] });
    answer = capture('unknown-method');
    await expect(new HttpKamailioRpc(url, 1000).list()).rejects.toBeInstanceOf(KamailioRpcError);
  });

  it('raises KamailioReloadPendingError for "Ongoing reload" and a plain error for "Reload Failed"', async () => {
    answer = capture('dispatcher-reload-ongoing');
    await expect(new HttpKamailioRpc(url, 1000).reload()).rejects.toBeInstanceOf(KamailioReloadPendingError);
    answer = capture('dispatcher-reload-failed');
    const err = await new HttpKamailioRpc(url, 1000).reload().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KamailioRpcError);
    expect(err).not.toBeInstanceOf(KamailioReloadPendingError);
    expect((err as Error).message).toMatch(/Reload Failed/);
  });

  it('sends set_state with a numeric set id, as Kamailio requires', async () => {
    answer = capture('dispatcher-set-state-ok');
    received.length = 0;
    await new HttpKamailioRpc(url, 1000).setState('i', 2, 'sip:10.0.0.1:5080');
    expect(received[0]).toMatchObject({ jsonrpc: '2.0', method: 'dispatcher.set_state', params: ['i', 2, 'sip:10.0.0.1:5080'] });
  });

  it('times out on a Kamailio that never answers, and flags a non-JSON answer as unreachable', async () => {
    answer = 'hang';
    await expect(new HttpKamailioRpc(url, 200).list()).rejects.toBeInstanceOf(KamailioUnreachableError);
    answer = 'garbage';
    await expect(new HttpKamailioRpc(url, 1000).list()).rejects.toThrow(/HTTP 502, not JSON-RPC/);
  });

  it('reports a refused connection as unreachable', async () => {
    await expect(new HttpKamailioRpc('http://127.0.0.1:1/RPC', 500).list()).rejects.toBeInstanceOf(KamailioUnreachableError);
  });

  it('dump reads every item of every bucket, an integer as a number and a string as a string', async () => {
    answer = capture('htable-dump-cascade');
    await expect(new HttpKamailioRpc(url, 1000).htableDump('cascade')).resolves.toEqual([
      { key: '3900', value: 3 },
      { key: '3901', value: '2' },
    ]);
    answer = capture('htable-dump-empty');
    await expect(new HttpKamailioRpc(url, 1000).htableDump('cascade')).resolves.toEqual([]);
    answer = capture('htable-dump-no-table');
    await expect(new HttpKamailioRpc(url, 1000).htableDump('nosuch')).rejects.toThrow(/No such htable/);
  });

  it('set sends seti for a number and sets for a string; delete of a missing key is false, not an error', async () => {
    received.length = 0;
    answer = capture('htable-seti-ok');
    await new HttpKamailioRpc(url, 1000).htableSet('cascade', '3900', 3);
    answer = capture('htable-sets-ok');
    await new HttpKamailioRpc(url, 1000).htableSet('cascade', '3901', '2');
    expect((received as { method: string; params: unknown[] }[]).map((r) => [r.method, r.params])).toEqual([
      ['htable.seti', ['cascade', '3900', 3]],
      ['htable.sets', ['cascade', '3901', '2']],
    ]);
    answer = capture('htable-delete-ok');
    await expect(new HttpKamailioRpc(url, 1000).htableDelete('cascade', '3900')).resolves.toBe(true);
    answer = capture('htable-delete-missing');
    await expect(new HttpKamailioRpc(url, 1000).htableDelete('cascade', '3900')).resolves.toBe(false);
    answer = capture('htable-dump-no-table');
    await expect(new HttpKamailioRpc(url, 1000).htableDelete('nosuch', '1')).rejects.toBeInstanceOf(KamailioRpcError);
  });

  it('the generic call resolves the result of any method', async () => {
    answer = capture('corex-list-sockets');
    const result = await new HttpKamailioRpc(url, 1000).call('corex.list_sockets');
    expect(Array.isArray(result)).toBe(true);
    expect(received.at(-1)).toMatchObject({ method: 'corex.list_sockets', params: [] });
  });
});
