import { describe, expect, it } from 'vitest';
import { parseSipUri } from '../../../src/events/sipUri.js';

describe('parseSipUri', () => {
  it.each([
    ['sip:127.0.0.1:5080', 'sip:127.0.0.1:5080'],
    ['sip:10.1.2.3', 'sip:10.1.2.3:5060'],
    ['sip:fs-1.example.net:5080;transport=tcp', 'sip:fs-1.example.net:5080;transport=tcp'],
    ['sip:FS1.Example.NET:5080', 'sip:fs1.example.net:5080'],
    ['sips:10.0.0.1', 'sips:10.0.0.1:5061'],
    ['sip:[fd00::2]:5080;transport=udp', 'sip:[fd00::2]:5080;transport=udp'],
  ])('accepts %s as %s', (input, uri) => {
    const r = parseSipUri(input);
    expect(r.ok && r.value.uri).toBe(uri);
  });

  it.each([
    ['', /empty/],
    ['sip:10.0.0.1:5080\n1 sip:evil', /whitespace|control/],
    ['sip:10.0.0.1:5080 ', /whitespace/],
    ['sip:10.0.0.1:5080;transport=udp;weight=100', /no user part or other parameters/],
    ['sip:user@10.0.0.1:5080', /no user part/],
    ['sip:"10.0.0.1"', /quotes/],
    ['sip:10.0.0.1:0', /outside 1-65535/],
    ['sip:10.0.0.1:70000', /outside 1-65535/],
    ['sip:999.0.0.1:5060', /invalid host/],
    ['sip:[1::2::3]:5060', /invalid IPv6/],
    ['sip:[zz::1]:5060', /must be sip:/],
    ['http://10.0.0.1', /must be sip:/],
    ['SIP:10.0.0.1', /must be sip:/],
    ['sip:-bad-.example:5060', /invalid host/],
    ['sips:10.0.0.1;transport=udp', /reliable transport/],
    ['sip:10.0.0.1:5060;transport=tcp?x=1', /must be sip:/],
    ['sip:' + 'a'.repeat(190), /longer than 192/],
    ['sip:10.0.0.1\u0000', /control/],
  ])('rejects %j', (input, reason) => {
    const r = parseSipUri(input);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(reason);
  });

  it('rejects non-strings', () => {
    expect(parseSipUri(5060).ok).toBe(false);
  });
});
