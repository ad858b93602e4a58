import pg from 'pg';
import type { LeaseTimings } from './lease.js';

/**
 * The dedicated connection an election runs on: a pg Client of its own, never a pooled
 * one, because a session advisory lock belongs to the session. A pool would hand the
 * session holding the lock to other work, and a pooler in transaction mode (PgBouncer)
 * would break session locks altogether: point SBC_PG_URL at Postgres itself.
 */

/** The election lock, in the two-key form so pg_locks shows it as (classid, objid, objsubid 2). */
export const LEADER_LOCK = { classid: 7264, objid: 731_003 } as const;

/** idle_session_timeout is Postgres 14's; without it a frozen holder would keep the lock forever. */
const MIN_SERVER_VERSION = 140_000;

export class ElectionSessionError extends Error {
  override readonly name = 'ElectionSessionError';
}

/**
 * Connects and sets the session so the server frees the lock of a silent holder after
 * serverTimeoutMs, and not sooner (see lease.ts for the inequality).
 */
export async function openElectionSession(connectionString: string, replicaId: string, t: LeaseTimings, onLost: (err: Error) => void): Promise<pg.Client> {
  const client = new pg.Client({
    connectionString,
    application_name: `sbc-election:${replicaId}`.slice(0, 63),
    connectionTimeoutMillis: t.leaseMs,
    // Client side too: a query on a dead network would otherwise wait for TCP to give up.
    query_timeout: t.statementTimeoutMs,
    keepAlive: true,
  });
  let lost = false;
  const lose = (err: Error) => {
    if (lost) return;
    lost = true;
    onLost(err);
  };
  client.on('error', lose);
  client.on('end', () => lose(new ElectionSessionError('the election session ended')));
  try {
    await client.connect();
    const v = await client.query<{ server_version_num: string }>('SHOW server_version_num');
    const version = Number(v.rows[0]?.server_version_num);
    if (!(version >= MIN_SERVER_VERSION)) {
      throw new ElectionSessionError(`leader election needs Postgres 14 or later (idle_session_timeout); the server is ${version}`);
    }
    const k = t.keepalive;
    // Numbers we computed, not input: safe to inline (SET takes no parameters).
    await client.query(
      [
        `SET idle_session_timeout = ${t.serverTimeoutMs}`,
        `SET idle_in_transaction_session_timeout = ${t.serverTimeoutMs}`,
        `SET statement_timeout = ${t.statementTimeoutMs}`,
        `SET tcp_keepalives_idle = ${k.idleS}`,
        `SET tcp_keepalives_interval = ${k.intervalS}`,
        `SET tcp_keepalives_count = ${k.count}`,
        `SET tcp_user_timeout = ${t.serverTimeoutMs}`,
      ].join('; '),
    );
    return client;
  } catch (err) {
    lost = true; // ours to report: the caller gets the error, not also a lost session
    await closeElectionSession(client, t.renewMs);
    throw err;
  }
}

/** Tries the lock without waiting: true when this session holds it now. */
export async function tryLeaderLock(client: pg.Client): Promise<boolean> {
  const res = await client.query<{ got: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS got', [LEADER_LOCK.classid, LEADER_LOCK.objid]);
  return res.rows[0]?.got === true;
}

/**
 * Ends the session, which frees the lock at once if it holds it; bounded by `timeoutMs`,
 * after which the socket is destroyed (a dead network would not answer the goodbye).
 */
export async function closeElectionSession(client: pg.Client, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const ended = await Promise.race([
    client.end().then(() => true, () => true),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    }),
  ]);
  clearTimeout(timer);
  if (!ended) {
    // pg has no public way to drop a connection that does not answer its Terminate.
    (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
  }
}
