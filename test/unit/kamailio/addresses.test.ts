import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { KamailioAddressBook } from '../../../src/kamailio/addresses.js';
import { parseSocketList } from '../../../src/kamailio/answers.js';

/** Real `corex.list_sockets` of Kamailio 5.6.3 (kamailio.cfg with SBC_SIP_ADVERTISE), captured by kamailio-routing.test.ts. */
const captured = JSON.parse(readFileSync(new URL('../../fixtures/kamailio/rpc-corex-list-sockets.json', import.meta.url), 'utf8')) as {
  response: { result: unknown };
};

describe('parseSocketList on a real corex.list_sockets answer', () => {
  it('reads protocol, bound addresses, port and the advertised host of each socket', () => {
    expect(parseSocketList(captured.response.result)).toEqual([
      { proto: 'udp', addresses: ['127.0.0.1'], port: 5060, advertise: '192.0.2.10' },
      { proto: 'tcp', addresses: ['127.0.0.1'], port: 5060, advertise: '192.0.2.10' },
      { proto: 'tcp', addresses: ['127.0.0.1'], port: 5071, advertise: undefined },
    ]);
  });

  it('refuses shapes it does not know', () => {
    expect(() => parseSocketList([{ NAME: '127.0.0.1', PORT: '5060' }])).toThrow(/PROTO/);
    expect(() => parseSocketList([{ PROTO: 'udp', NAME: '127.0.0.1', PORT: 'x' }])).toThrow(/PORT/);
  });
});

describe('KamailioAddressBook', () => {
  it("knows each Kamailio's listen and advertised addresses, whatever the scheme or transport of the URI", () => {
    const book = new KamailioAddressBook();
    book.learn('http://127.0.0.1:5071/RPC', parseSocketList(captured.response.result));
    expect(book.has('sip:127.0.0.1:5060')).toBe(true);
    expect(book.has('sip:127.0.0.1')).toBe(true); // default port 5060
    expect(book.has('sip:127.0.0.1:5060;transport=tcp')).toBe(true);
    expect(book.has('sip:192.0.2.10:5060')).toBe(true);
    expect(book.has('sip:127.0.0.1:5080')).toBe(false);
    expect(book.has('not a uri')).toBe(false);
  });

  it('a wildcard listen address means the host of that Kamailio\'s RPC URL', () => {
    const book = new KamailioAddressBook();
    book.learn('http://10.1.2.3:5071/RPC', [{ proto: 'udp', addresses: ['0.0.0.0'], port: 5060, advertise: undefined }]);
    expect(book.has('sip:10.1.2.3:5060')).toBe(true);
    expect(book.has('sip:0.0.0.0:5060')).toBe(false);
  });

  it('adds the addresses the operator configured, and forgets what a Kamailio no longer listens on', () => {
    const book = new KamailioAddressBook(['sip:203.0.113.7']);
    expect(book.has('sip:203.0.113.7:5060')).toBe(true);
    book.learn('k1', [{ proto: 'udp', addresses: ['10.0.0.1'], port: 5060, advertise: undefined }]);
    book.learn('k1', [{ proto: 'udp', addresses: ['10.0.0.2'], port: 5060, advertise: undefined }]);
    expect(book.has('sip:10.0.0.1:5060')).toBe(false);
    expect(book.all()).toEqual(['10.0.0.2:5060', '203.0.113.7:5060']);
  });
});
