import { describe, expect, it } from 'vitest';
import { isRoomKey, parsePin, pinValue, shardKey } from '../../../src/core/pins.js';

describe('pins: the htable value routing.lua reads and writes', () => {
  it('round-trips a pin', () => {
    const v = pinValue({ uri: 'sip:127.0.0.1:5080', at: 1764650000123, by: 'kam-a' });
    expect(v).toBe('sip:127.0.0.1:5080;at=1764650000123;by=kam-a');
    expect(parsePin('3000', v)).toEqual({ key: '3000', uri: 'sip:127.0.0.1:5080', at: 1764650000123, by: 'kam-a' });
  });

  it('reads a bare URI (an operator htable.sets) with unknown time and author', () => {
    expect(parsePin('3000', 'sip:10.0.0.5:5060')).toEqual({ key: '3000', uri: 'sip:10.0.0.5:5060', at: 0, by: '' });
  });

  it('refuses what routing.lua would not follow', () => {
    expect(parsePin('3000', 7)).toBeUndefined();
    expect(parsePin('3000', 'http://x')).toBeUndefined();
    expect(parsePin('3000', 'sip:a b:5060')).toBeUndefined();
    expect(parsePin('', 'sip:1.2.3.4:5060')).toBeUndefined();
  });

  it('room keys and shard keys', () => {
    expect(isRoomKey('3000')).toBe(true);
    expect(isRoomKey('tenant-a.example/3000')).toBe(true);
    expect(isRoomKey('')).toBe(false);
    expect(isRoomKey('30 00')).toBe(false);
    expect(isRoomKey('"x"')).toBe(false);
    expect(shardKey('3000', 2)).toBe('3000-2');
  });
});
