import { describe, expect, it } from 'vitest';
import { compactJson, DETAIL_WIDTH, keyValues, shortIds, table } from '../../../src/cli/format.js';

describe('sbcctl format', () => {
  it('table: columns padded to their widest cell, two spaces apart, no trailing blanks', () => {
    expect(table(['A', 'LONGER', 'LAST'], [['wide cell', 'x', ''], ['y', 'z', 'end']])).toEqual([
      'A          LONGER  LAST',
      'wide cell  x',
      'y          z       end',
    ]);
  });

  it('keyValues: values aligned after the longest key', () => {
    expect(keyValues([['a', '1'], ['longer key', '2'], ['empty', '']])).toEqual(['a:           1', 'longer key:  2', 'empty:']);
  });

  it('shortIds: 8 characters, longer for all when two ids would look the same, never longer than an id', () => {
    const distinct = shortIds(['3f2a9c1d-aaaa', '7b00e4a2-bbbb']);
    expect(distinct('3f2a9c1d-aaaa')).toBe('3f2a9c1d');
    const clash = shortIds(['3f2a9c1d-aaaa', '3f2a9c1d-abbb', '7b00e4a2-bbbb']);
    expect(['3f2a9c1d-aaaa', '3f2a9c1d-abbb', '7b00e4a2-bbbb'].map(clash)).toEqual(['3f2a9c1d-aa', '3f2a9c1d-ab', '7b00e4a2-bb']);
    // The same id twice is one id, not a clash.
    expect(shortIds(['3f2a9c1d-aaaa', '3f2a9c1d-aaaa'])('3f2a9c1d-aaaa')).toBe('3f2a9c1d');
    expect(shortIds(['abc', 'abd'])('abc')).toBe('abc');
  });

  it('compactJson: one line of JSON, cut to its width with an ellipsis; an empty detail is -', () => {
    expect(compactJson({ replicas: 2, previous: 3 })).toBe('{"replicas":2,"previous":3}');
    expect(compactJson({})).toBe('-');
    expect(compactJson({ note: 'a\nb' })).toBe('{"note":"a\\nb"}');
    const cut = compactJson({ long: 'x'.repeat(100) });
    expect(cut).toHaveLength(DETAIL_WIDTH);
    expect(cut).toBe(`{"long":"${'x'.repeat(DETAIL_WIDTH - 10)}…`);
    expect(compactJson({ ab: 1 }, 5)).toBe('{"ab…');
  });
});
