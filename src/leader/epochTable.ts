import type { ClientBase } from 'pg';
import { FencedOutError } from './fencedOut.js';

/**
 * The cluster's epoch in Postgres: table `sbc_leader_epoch` (migration 2), one row. Only the
 * holder of the election lock increments it, once, right after winning; so an epoch names
 * one leadership, and a higher epoch always means a later leader.
 */

/** Increments the epoch for a new leader in its own transaction; returns the new epoch. */
export async function bumpEpoch(client: ClientBase, leaderId: string): Promise<number> {
  await client.query('BEGIN');
  try {
    const res = await client.query<{ epoch: string }>(
      'UPDATE sbc_leader_epoch SET epoch = epoch + 1, leader_id = $1, elected_at = now() WHERE id = 1 RETURNING epoch',
      [leaderId],
    );
    const row = res.rows[0];
    if (!row) throw new Error('sbc_leader_epoch has no row (migration 2 not applied?)');
    await client.query('COMMIT');
    return Number(row.epoch);
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/**
 * Checks, inside the caller's open transaction, that `epoch` is still the cluster's; throws
 * FencedOutError when it moved. Call it before the transaction's writes.
 *
 * FOR SHARE is what makes the check hold until COMMIT, not just at the moment it ran: a new
 * leader's bumpEpoch (an UPDATE of the same row) waits for this transaction to end. So either
 * this transaction commits first and its writes precede the new epoch, or the new epoch
 * committed first and this check sees it (READ COMMITTED re-reads the updated row) and
 * refuses. A stale leader's write can never land after a newer leader's election.
 */
export async function fenceCheck(client: ClientBase, epoch: number): Promise<void> {
  const res = await client.query<{ epoch: string }>('SELECT epoch FROM sbc_leader_epoch WHERE id = 1 FOR SHARE');
  const current = res.rows[0] === undefined ? undefined : Number(res.rows[0].epoch);
  if (current !== epoch) throw new FencedOutError('postgres', epoch, current);
}
