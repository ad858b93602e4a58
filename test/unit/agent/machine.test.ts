import { describe, expect, it } from 'vitest';
import { inputKinds, MachineCell, type Machine } from '../../../src/agent/machine.js';

type Input = { readonly kind: 'add'; readonly n: number } | { readonly kind: 'stop' };
const counter: Machine<number, Input, string> = {
  name: 'counter',
  initial: 0,
  takes: inputKinds<Input['kind']>({ add: true, stop: true }),
  decide: (state, input) => (input.kind === 'add' ? { state: state + input.n, actions: [`now ${state + input.n}`] } : { state, actions: [], note: 'stopped' }),
};

const add = (n: number): Input => ({ kind: 'add', n });

describe('machine cells', () => {
  it('a cell decides only on the kinds its machine takes, and keeps the state between inputs', () => {
    const cell = new MachineCell(counter);
    expect(cell.state).toBe(0);
    expect(cell.feed(add(2))).toEqual({ state: 2, actions: ['now 2'] });
    expect(cell.feed({ kind: 'probe-ok' })).toBeUndefined();
    expect(cell.feed(add(3))?.actions).toEqual(['now 5']);
    expect(cell.feed({ kind: 'stop' })).toEqual({ state: 5, actions: [], note: 'stopped' });
    expect(cell.state).toBe(5);
    expect(cell.name).toBe('counter');
  });
});
