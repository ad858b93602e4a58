import type { FencedOutError } from './fencedOut.js';

/**
 * What the reconcile steps need of the election: the epoch to fence their writes with while
 * this replica leads (undefined otherwise), and a way to say a store refused one. Election
 * implements it; a single control plane with no election passes none.
 */
export interface Leadership {
  epoch(): number | undefined;
  fencedOut(err: FencedOutError): void;
}

/** This replica does not lead (any more): the pass writes nothing. */
export class NotLeaderError extends Error {
  override readonly name = 'NotLeaderError';
  constructor(what: string) {
    super(`not the leader (any more): ${what} not done`);
  }
}
