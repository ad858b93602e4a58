/**
 * The shape of every agent concern (membership, commands; conferences and channels next): a
 * pure machine that, given what it believes and one input, says what it believes next and
 * what the shell must do. The shell holds one cell per machine and feeds each input to the
 * cells whose machine takes that input's kind; an input kind means the same thing to every
 * machine that takes it (`stop` is one such input).
 */
export interface Decision<S, A> {
  readonly state: S;
  readonly actions: readonly A[];
  /** Why an input changed nothing, for the debug log. */
  readonly note?: string;
}

export interface Machine<S, I extends { readonly kind: string }, A> {
  /** For logs: which machine decided. */
  readonly name: string;
  readonly initial: S;
  /** Every input kind this machine decides on; the shell gives it no other. */
  readonly takes: readonly I['kind'][];
  decide(state: S, input: I): Decision<S, A>;
}

/** What the shell sees of a cell when it routes one input: the actions, if the machine took it. */
export interface Fed<A> {
  readonly actions: readonly A[];
  readonly note?: string;
}

/** One machine and its current state, as the shell holds it. */
export class MachineCell<S, I extends { readonly kind: string }, A> {
  private current: S;
  private readonly kinds: ReadonlySet<string>;

  constructor(readonly machine: Machine<S, I, A>) {
    this.current = machine.initial;
    this.kinds = new Set(machine.takes);
  }

  get name(): string {
    return this.machine.name;
  }

  get state(): S {
    return this.current;
  }

  takes(input: { readonly kind: string }): input is I {
    return this.kinds.has(input.kind);
  }

  /** Decides on `input` if the machine takes its kind; undefined (and no change) otherwise. */
  feed(input: { readonly kind: string }): Fed<A> | undefined {
    if (!this.takes(input)) return undefined;
    const decision = this.machine.decide(this.current, input);
    this.current = decision.state;
    return decision;
  }
}

/**
 * The kinds a machine takes, written as a record so the compiler checks the list names every
 * member of the input union, and nothing else.
 */
export function inputKinds<K extends string>(all: Readonly<Record<K, true>>): readonly K[] {
  return Object.keys(all) as K[];
}
