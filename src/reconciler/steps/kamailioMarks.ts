import type { KamailioDestination } from '../../core/kamailioView.js';
import { nodeIdOfAttrs, rowKey } from '../../core/rowIdentity.js';
import type { HeldMark } from '../dispatcherPass.js';

/** What one observation means for the marks: the ones to keep respecting, the ones whose hold ended. */
export interface MarkVerdict {
  readonly held: readonly HeldMark[];
  readonly expired: readonly HeldMark[];
  /** Marks seen before that Kamailio no longer holds (a reload or someone's set_state cleared them). */
  readonly gone: readonly HeldMark[];
}

/**
 * Kamailio's own inactive marks on one Kamailio, held for `holdMs` from when they were
 * first seen. routing.lua marks a node that did not answer an INVITE, so the following calls
 * skip it instead of each waiting fr_timer; a resync that reloaded the mark away would send
 * calls straight back to a dead SIP side. When the hold ends the mark is cleared (the
 * caller sets the destination active again): if the node still does not answer, the next
 * call marks it again, which is the only probe there is with Kamailio's pinging off.
 */
export class KamailioMarks {
  private readonly held = new Map<string, HeldMark>();

  constructor(private readonly holdMs: number) {}

  observe(marked: readonly KamailioDestination[], now: number): MarkVerdict {
    const seen = new Set<string>();
    const held: HeldMark[] = [];
    const expired: HeldMark[] = [];
    for (const d of marked) {
      const key = rowKey(d.setId, d.uri);
      seen.add(key);
      const mark = this.held.get(key) ?? { setId: d.setId, uri: d.uri, nodeId: nodeIdOfAttrs(d.attrs), since: now, until: now + this.holdMs };
      if (mark.until <= now) {
        this.held.delete(key);
        expired.push(mark);
      } else {
        this.held.set(key, mark);
        held.push(mark);
      }
    }
    const gone: HeldMark[] = [];
    for (const [key, mark] of this.held) {
      if (seen.has(key)) continue;
      this.held.delete(key);
      gone.push(mark);
    }
    return { held, expired, gone };
  }

  /** Marks per node (a node may be marked in several sets), for the gauge. */
  static perNode(marks: readonly HeldMark[]): Map<string, number> {
    const n = new Map<string, number>();
    for (const m of marks) if (m.nodeId !== undefined) n.set(m.nodeId, (n.get(m.nodeId) ?? 0) + 1);
    return n;
  }
}
