import { describe, expect, it } from 'vitest';
import { desiredSets, flattenSets } from '../../../src/core/dispatcher.js';
import { planChanges, type StoredRow } from '../../../src/core/planChanges.js';
import { node, policy } from './fixtures.js';

const managed = new Set([1, 2, 3]);
const stored = (rows: ReturnType<typeof flattenSets>, firstId = 1): StoredRow[] =>
  rows.map((r, i) => ({ id: firstId + i, ...r }));

describe('planChanges', () => {
  it('plans nothing when the table already matches', () => {
    const desired = flattenSets(desiredSets([node(1), node(2)], policy));
    expect(planChanges(desired, stored(desired), managed)).toEqual([]);
  });

  it('inserts every row into an empty table', () => {
    const desired = flattenSets(desiredSets([node(1)], policy));
    const plan = planChanges(desired, [], managed);
    expect(plan.map((c) => [c.kind, c.row.setid, c.row.destination])).toEqual([
      ['insert', 1, 'sip:10.0.0.1:5080'],
      ['insert', 2, 'sip:10.0.0.1:5080'],
      ['insert', 3, 'sip:10.0.0.1:5080'],
    ]);
  });

  it('deletes the rows of a node that left from every set', () => {
    const before = flattenSets(desiredSets([node(1), node(2)], policy));
    const after = flattenSets(desiredSets([node(1)], policy));
    const plan = planChanges(after, stored(before), managed);
    expect(plan.every((c) => c.kind === 'delete')).toBe(true);
    expect(plan.map((c) => [c.row.setid, c.row.destination])).toEqual([
      [1, 'sip:10.0.0.2:5080'],
      [2, 'sip:10.0.0.2:5080'],
      [3, 'sip:10.0.0.2:5080'],
    ]);
  });

  it('detects a member swapped for another even when the row count is equal', () => {
    const before = flattenSets(desiredSets([node(1), node(2)], policy));
    const after = flattenSets(desiredSets([node(1), node(3)], policy));
    const plan = planChanges(after, stored(before), managed);
    expect(plan.filter((c) => c.kind === 'delete').map((c) => c.row.destination)).toEqual(Array(3).fill('sip:10.0.0.2:5080'));
    expect(plan.filter((c) => c.kind === 'insert').map((c) => c.row.destination)).toEqual(Array(3).fill('sip:10.0.0.3:5080'));
  });

  it('repairs a row edited by hand (priority, flags, attrs) with an update', () => {
    const desired = flattenSets(desiredSets([node(1)], policy));
    const edited = stored(desired).map((r) => (r.setid === 2 ? { ...r, priority: 0, flags: 1, attrs: 'weight=1' } : r));
    const plan = planChanges(desired, edited, managed);
    expect(plan).toHaveLength(1);
    expect(plan[0]).toMatchObject({ kind: 'update', id: 2, row: desired[1], before: { priority: 0, flags: 1, attrs: 'weight=1' } });
  });

  it('removes duplicate rows, keeping the oldest id', () => {
    const desired = flattenSets(desiredSets([node(1)], policy));
    const rows = [...stored(desired), { ...stored(desired)[0]!, id: 99 }];
    const plan = planChanges(desired, rows, managed);
    expect(plan).toEqual([{ kind: 'delete', id: 99, row: desired[0] }]);
  });

  it('never touches rows in sets it does not manage', () => {
    const desired = flattenSets(desiredSets([node(1)], policy));
    const operatorRow: StoredRow = { id: 50, setid: 9, destination: 'sip:192.0.2.1:5060', flags: 0, priority: 0, attrs: '', description: 'static' };
    expect(planChanges(desired, [...stored(desired), operatorRow], managed)).toEqual([]);
  });

  it('refuses a desired row outside the managed sets or repeated', () => {
    const row = flattenSets(desiredSets([node(1)], policy))[0]!;
    expect(() => planChanges([{ ...row, setid: 9 }], [], managed)).toThrow(/unmanaged set 9/);
    expect(() => planChanges([row, row], [], managed)).toThrow(/repeat/);
  });
});
