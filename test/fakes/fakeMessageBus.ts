import type { BusMessage, BusSubscription, MessageBus } from '../../src/ports/messageBus.js';

/**
 * The bus in memory, with NATS's subject matching (`*` one token, `>` the rest) and one
 * member per queue group, messages handled one at a time in order. `published` records
 * every publish.
 */
export class FakeMessageBus implements MessageBus {
  readonly published: BusMessage[] = [];
  private readonly subs: { pattern: string; queue?: string; handle: (m: BusMessage) => Promise<void>; chain: Promise<void>; open: boolean }[] = [];

  publish(subject: string, data: Uint8Array): void {
    const m = { subject, data };
    this.published.push(m);
    const groups = new Set<string>();
    for (const s of this.subs) {
      if (!s.open || !subjectMatches(s.pattern, subject)) continue;
      if (s.queue !== undefined) {
        if (groups.has(s.queue)) continue;
        groups.add(s.queue);
      }
      s.chain = s.chain.then(() => s.handle(m));
    }
  }

  consume(subject: string, options: { readonly queue?: string }, handle: (m: BusMessage) => Promise<void>): BusSubscription {
    const s = { pattern: subject, ...(options.queue === undefined ? {} : { queue: options.queue }), handle, chain: Promise.resolve(), open: true };
    this.subs.push(s);
    return {
      drain: async () => {
        s.open = false;
        await s.chain;
      },
    };
  }
}

export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const t = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return t.length > i;
    if (i >= t.length || (p[i] !== '*' && p[i] !== t[i])) return false;
  }
  return p.length === t.length;
}
