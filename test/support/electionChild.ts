// A replica's election in a process of its own, for the test that freezes it with SIGSTOP.
// Prints one JSON line per event; on SIGUSR2 it writes the dispatcher table fenced with the
// epoch it last won (whether it still leads or not: the test checks the fence, not the
// caller's manners). Env: ELECTION_PG_URL, ELECTION_REPLICA_ID, ELECTION_LEASE_MS, ELECTION_RENEW_MS.
import pg from 'pg';
import { Election } from '../../src/leader/election.js';
import { fencedOutOf } from '../../src/leader/fencedOut.js';
import { PgDispatcherStore } from '../../src/postgres/dispatcherStore.js';

const say = (line: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(line)}\n`);
const env = (name: string) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is required`);
  return v;
};

const replicaId = env('ELECTION_REPLICA_ID');
const pool = new pg.Pool({ connectionString: env('ELECTION_PG_URL'), max: 2 });
pool.on('error', () => undefined);
const store = new PgDispatcherStore(pool, new Set([1]));
let wonEpoch: number | undefined;
const election = new Election({
  connectionString: env('ELECTION_PG_URL'),
  replicaId,
  order: null,
  leaseMs: Number(env('ELECTION_LEASE_MS')),
  renewMs: Number(env('ELECTION_RENEW_MS')),
  onElected: (epoch) => {
    wonEpoch = epoch;
    say({ event: 'elected', epoch });
  },
  onDeposed: (reason, epoch) => say({ event: 'deposed', reason, epoch }),
});

// Runs first thing after a SIGSTOP ends: the lease ran out while frozen, so the replica
// must already say it does not lead, before any timer of its own has run.
process.on('SIGCONT', () => say({ event: 'resumed', isLeader: election.isLeader() }));
process.on('SIGUSR2', () => {
  const epoch = wonEpoch ?? -1;
  const row = { setid: 1, destination: `sip:${replicaId}.invalid:5060`, flags: 0, priority: epoch, attrs: '', description: `sbc:${replicaId}` };
  store.sync(() => [row], { fenceEpoch: epoch }).then(
    () => say({ event: 'write', epoch, outcome: 'written' }),
    (err: unknown) => say({ event: 'write', epoch, outcome: fencedOutOf(err) ? 'fenced' : 'error', error: String(err) }),
  );
});
process.on('SIGTERM', () => {
  void election.stop().then(() => pool.end()).then(() => process.exit(0));
});
election.start();
say({ event: 'started', replicaId });
