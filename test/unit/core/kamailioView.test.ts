import { describe, expect, it } from 'vitest';
import { desiredSets, flattenSets } from '../../../src/core/dispatcher.js';
import { compareWithKamailio, type KamailioDestination } from '../../../src/core/kamailioView.js';
import { node, policy } from './fixtures.js';

const managed = new Set([1, 2, 3]);
const asLoaded = (rows: ReturnType<typeof flattenSets>, flags = 'AX'): KamailioDestination[] =>
  rows.map((r) => ({ setId: r.setid, uri: r.destination, flags: r.flags & 4 ? 'DX' : flags, priority: r.priority, attrs: r.attrs }));

describe('compareWithKamailio', () => {
  it('reports in sync when Kamailio holds exactly the desired rows', () => {
    const desired = flattenSets(desiredSets([node(1), node(2, { state: 'draining' })], policy));
    expect(compareWithKamailio(desired, { destinations: asLoaded(desired) }, managed).inSync).toBe(true);
  });

  it('reports a joined node as missing until a reload loads it', () => {
    const before = flattenSets(desiredSets([node(1)], policy));
    const desired = flattenSets(desiredSets([node(1), node(2)], policy));
    const drift = compareWithKamailio(desired, { destinations: asLoaded(before) }, managed);
    expect(drift.inSync).toBe(false);
    expect(drift.missing.map((r) => [r.setid, r.destination])).toEqual([
      [1, 'sip:10.0.0.2:5080'],
      [2, 'sip:10.0.0.2:5080'],
      [3, 'sip:10.0.0.2:5080'],
    ]);
  });

  it('asks to deselect a node that left while it is still selectable, and not once it is inactive', () => {
    const loaded = asLoaded(flattenSets(desiredSets([node(1), node(2)], policy)));
    const desired = flattenSets(desiredSets([node(1)], policy));
    const drift = compareWithKamailio(desired, { destinations: loaded }, managed);
    expect(drift.toDeselect.map((d) => [d.setId, d.uri])).toEqual([
      [1, 'sip:10.0.0.2:5080'],
      [2, 'sip:10.0.0.2:5080'],
      [3, 'sip:10.0.0.2:5080'],
    ]);
    const deselected = loaded.map((d) => (d.uri === 'sip:10.0.0.2:5080' ? { ...d, flags: 'IX' } : d));
    const after = compareWithKamailio(desired, { destinations: deselected }, managed);
    expect(after.toDeselect).toEqual([]);
    expect(after.extra).toHaveLength(3);
    expect(after.inSync).toBe(false);
  });

  it('treats runtime state, priority and attribute differences as drift', () => {
    const desired = flattenSets(desiredSets([node(1)], policy));
    const loaded = asLoaded(desired);
    for (const bad of [{ flags: 'IP' }, { priority: 0 }, { attrs: 'weight=1' }]) {
      const d = compareWithKamailio(desired, { destinations: [{ ...loaded[0]!, ...bad }, ...loaded.slice(1)] }, managed);
      expect(d.changed).toHaveLength(1);
      expect(d.inSync).toBe(false);
    }
  });

  it("reports Kamailio's own inactive mark (IX) on a selectable destination as a mark, not as drift", () => {
    const desired = flattenSets(desiredSets([node(1), node(2)], policy));
    const loaded = asLoaded(desired).map((d) => (d.setId === 1 && d.uri === 'sip:10.0.0.2:5080' ? { ...d, flags: 'IX' } : d));
    const d = compareWithKamailio(desired, { destinations: loaded }, managed);
    expect(d.inSync).toBe(true);
    expect(d.changed).toEqual([]);
    expect(d.marked.map((m) => [m.setId, m.uri, m.flags])).toEqual([[1, 'sip:10.0.0.2:5080', 'IX']]);
    // A mark on a row that also differs otherwise is drift: the reload repairs both.
    const other = loaded.map((x) => (x.flags === 'IX' ? { ...x, priority: 0 } : x));
    const d2 = compareWithKamailio(desired, { destinations: other }, managed);
    expect([d2.inSync, d2.marked.length, d2.changed.length]).toEqual([false, 0, 1]);
    // Disabled (D) or probing (IP) states were set by someone else: drift.
    for (const flags of ['DX', 'IP']) {
      const d3 = compareWithKamailio(desired, { destinations: loaded.map((x) => (x.flags === 'IX' ? { ...x, flags } : x)) }, managed);
      expect([d3.inSync, d3.marked.length]).toEqual([false, 0]);
    }
  });

  it('wants a draining node disabled and deselects it while still active', () => {
    const desired = flattenSets(desiredSets([node(1, { state: 'draining' })], policy));
    const loaded = desired.map((r) => ({ setId: r.setid, uri: r.destination, flags: 'AX', priority: r.priority, attrs: r.attrs }));
    const drift = compareWithKamailio(desired, { destinations: loaded }, managed);
    expect(drift.toDeselect).toHaveLength(3);
  });

  it('ignores sets it does not manage', () => {
    const desired = flattenSets(desiredSets([node(1)], policy));
    const other = { setId: 9, uri: 'sip:192.0.2.1:5060', flags: 'AX', priority: 0, attrs: '' };
    expect(compareWithKamailio(desired, { destinations: [...asLoaded(desired), other] }, managed).inSync).toBe(true);
  });
});
