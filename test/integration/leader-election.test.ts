import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { Election, type DeposedReason, type ElectionOptions } from '../../src/leader/election.js';
import { FencedOutError } from '../../src/leader/fencedOut.js';
import { leaseTimings } from '../../src/leader/lease.js';
import { closeElectionSession, openElectionSession } from '../../src/leader/session.js';
import { migrate } from '../../src/postgres/migrations.js';
import { createPostgresDatabase, type Service } from '../support/services.js';
import { startProcess, waitFor, type RunningProcess } from '../support/process.js';

// Short figures so the tests take seconds: lease 1.5 s, renew 250 ms; the server ends a
// silent session after 2.5 s (lease.ts). Waits are deadlines, never asserted durations.
const LEASE_MS = 1500;
const RENEW_MS = 250;

interface Replica {
  readonly id: string;
  readonly election: Election;
  readonly elected: number[];
  readonly deposed: { reason: DeposedReason; epoch: number }[];
}

describe('leader election (real Postgres)', () => {
  let db: Service;
  let pool: pg.Pool;
  let running: Replica[] = [];
  let n = 0;

  beforeAll(async () => {
    db = await createPostgresDatabase();
    pool = new pg.Pool({ connectionString: db.url, max: 4 });
    pool.on('error', () => undefined);
    await migrate(pool);
  });
  afterEach(async () => {
    await Promise.all(running.map((r) => r.election.stop()));
    running = [];
  });
  afterAll(async () => {
    await pool.end();
    await db.stop();
  });

  function replica(order: number | null = null, id = `r${++n}`, extra: Partial<ElectionOptions> = {}): Replica {
    const elected: number[] = [];
    const deposed: Replica['deposed'] = [];
    const election = new Election({
      connectionString: db.url,
      replicaId: id,
      order,
      leaseMs: LEASE_MS,
      renewMs: RENEW_MS,
      onElected: (epoch) => elected.push(epoch),
      onDeposed: (reason, epoch) => deposed.push({ reason, epoch }),
      ...extra,
    });
    const r = { id, election, elected, deposed };
    running.push(r);
    election.start();
    return r;
  }

  const leaders = () => running.filter((r) => r.election.isLeader());
  const oneLeader = async (among: Replica[] = running) => {
    await waitFor('one leader', () => among.filter((r) => r.election.isLeader()).length === 1, 10_000);
    return among.find((r) => r.election.isLeader())!;
  };
  const storedEpoch = async () => Number((await pool.query<{ epoch: string }>('SELECT epoch FROM sbc_leader_epoch')).rows[0]!.epoch);

  it('elects exactly one of three replicas, which takes a new epoch; every replica shows it', async () => {
    const before = await storedEpoch();
    const rs = [replica(), replica(), replica()];
    const leader = await oneLeader(rs);
    // Several renews later there is still exactly one, and it is the same.
    for (let i = 0; i < 6; i++) {
      await new Promise((r) => setTimeout(r, RENEW_MS));
      expect(leaders().map((r) => r.id)).toEqual([leader.id]);
    }
    expect(leader.elected).toEqual([before + 1]);
    expect(leader.election.status()).toMatchObject({ role: 'leader', leaderId: leader.id, epoch: before + 1 });
    expect(leader.election.epoch()).toBe(before + 1);
    expect(await storedEpoch()).toBe(before + 1);
    await waitFor('every replica sees the leader', () => rs.every((r) => r.election.status().leaderId === leader.id && r.election.status().replicas.length === 3));
    for (const r of rs) {
      const s = r.election.status();
      expect(s.epoch).toBe(before + 1);
      expect(s.role).toBe(r === leader ? 'leader' : 'follower');
      expect(s.replicas.map((x) => [x.replicaId, x.live])).toEqual(rs.map((x) => [x.id, true]).sort());
      if (r !== leader) expect(r.election.epoch()).toBeUndefined();
    }
    await waitFor('the leader\'s heartbeat says leader', () =>
      rs.every((r) => r.election.status().replicas.find((x) => x.replicaId === leader.id)?.role === 'leader'));
  });

  it('a stopped leader hands over at once: another replica takes the next epoch', async () => {
    const rs = [replica(), replica()];
    const first = await oneLeader(rs);
    const epoch = first.election.epoch()!;
    await first.election.stop();
    expect(first.deposed).toEqual([{ reason: 'stopped', epoch }]);
    expect(first.election.isLeader()).toBe(false);
    const next = await oneLeader(rs.filter((r) => r !== first));
    expect(next.elected).toEqual([epoch + 1]);
    // A stopped replica removes its heartbeat row.
    await waitFor('the stopped replica is forgotten', () => !next.election.status().replicas.some((x) => x.replicaId === first.id));
  });

  it('a leader whose backend is terminated steps down, and another wins with a higher epoch', async () => {
    const rs = [replica(), replica()];
    const first = await oneLeader(rs);
    const epoch = first.election.epoch()!;
    const killed = await pool.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()', [`sbc-election:${first.id}`]);
    expect(killed.rowCount).toBe(1);
    await waitFor('the old leader steps down', () => first.deposed.length === 1);
    expect(first.deposed[0]!.reason).toMatch(/^(session-lost|lock-lost)$/);
    const next = await oneLeader(rs);
    expect(next.election.epoch()).toBeGreaterThan(epoch);
  });

  it('a leader whose epoch moved under it (a newer leader), or whose write was fenced out, steps down and gives the lock back', async () => {
    const rs = [replica(), replica()];
    const first = await oneLeader(rs);
    const epoch = first.election.epoch()!;
    await pool.query("UPDATE sbc_leader_epoch SET epoch = epoch + 1, leader_id = 'elsewhere'");
    await waitFor('the leader sees the epoch move', () => first.deposed.length === 1);
    expect(first.deposed).toEqual([{ reason: 'epoch-moved', epoch }]);
    const second = await oneLeader(rs);
    const secondEpoch = second.election.epoch()!;
    expect(secondEpoch).toBe(epoch + 2);
    second.election.fencedOut(new FencedOutError('redis', secondEpoch - 1, secondEpoch)); // an older epoch's refusal: no effect
    expect(second.election.isLeader()).toBe(true);
    second.election.fencedOut(new FencedOutError('redis', secondEpoch, secondEpoch + 1));
    expect(second.election.isLeader()).toBe(false);
    expect(second.deposed).toEqual([{ reason: 'fenced-out', epoch: secondEpoch }]);
    expect((await oneLeader(rs)).election.epoch()).toBe(secondEpoch + 1);
  });

  it('an epoch that cannot be announced (Redis down) is given back; the next try leads, and a throwing listener changes nothing', async () => {
    const announced: number[] = [];
    const r = replica(null, undefined, {
      announceEpoch: (epoch) => {
        announced.push(epoch);
        return announced.length === 1 ? Promise.reject(new Error('redis unreachable')) : Promise.resolve();
      },
      onElected: () => {
        throw new Error('a listener bug');
      },
    });
    await oneLeader([r]);
    expect(announced).toHaveLength(2);
    expect(announced[1]).toBe(announced[0]! + 1);
    expect(r.election.epoch()).toBe(announced[1]);
    for (let i = 0; i < 4; i++) {
      await new Promise((res) => setTimeout(res, RENEW_MS));
      expect(r.election.isLeader()).toBe(true);
    }
  });

  it('the lowest live order takes over; a replica that comes back never takes leadership back', async () => {
    const third = replica(3);
    await oneLeader([third]);
    // Orders 1 and 2 start while 3 leads: they do not take over from a healthy leader.
    const second = replica(2);
    const first = replica(1);
    await waitFor('all three see each other', () => [first, second, third].every((r) => r.election.status().replicas.filter((x) => x.live).length === 3));
    expect(leaders()).toEqual([third]);
    await third.election.stop();
    expect(await oneLeader([first, second])).toBe(first);
    // A replica with an even lower order comes back: the leader keeps leading.
    const zero = replica(0);
    await waitFor('the returning replica is live', () => first.election.status().replicas.some((x) => x.replicaId === zero.id && x.live));
    for (let i = 0; i < 8; i++) {
      await new Promise((r) => setTimeout(r, RENEW_MS));
      expect(leaders()).toEqual([first]);
    }
    expect(zero.elected).toEqual([]);
    // With the leader gone, the next in order (0) wins, not 2.
    await first.election.stop();
    expect(await oneLeader([zero, second])).toBe(zero);
  });

  it('sets the session so the server ends it only after the lease, and keepalives cannot end it sooner', async () => {
    const t = leaseTimings(LEASE_MS, RENEW_MS);
    const lost: Error[] = [];
    const session = await openElectionSession(db.url, 'settings', t, (err) => lost.push(err));
    try {
      const show = async (name: string) => (await session.query<Record<string, string>>(`SHOW ${name}`)).rows[0]![name];
      expect(await show('idle_session_timeout')).toBe(`${t.serverTimeoutMs}ms`);
      expect(await show('idle_in_transaction_session_timeout')).toBe(`${t.serverTimeoutMs}ms`);
      expect(await show('statement_timeout')).toBe(`${RENEW_MS}ms`);
      expect(t.serverTimeoutMs).toBeGreaterThan(LEASE_MS);
      const k = t.keepalive;
      expect([await show('tcp_keepalives_idle'), await show('tcp_keepalives_interval'), await show('tcp_keepalives_count')]).toEqual([k.idleS, k.intervalS, k.count].map(String));
      expect((k.idleS + k.intervalS * k.count) * 1000).toBeGreaterThan(t.serverTimeoutMs);
      const lock = await pool.query(
        `SELECT application_name FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'sbc-election:settings'`,
      );
      expect(lock.rowCount).toBe(1);
      // Silent for longer than serverTimeoutMs, the server ends the session itself.
      await waitFor('the server ends the silent session', () => lost.length > 0, 10_000);
    } finally {
      await closeElectionSession(session, 1000);
    }
  });

  describe('a frozen leader (a child process stopped with SIGSTOP)', () => {
    let child: RunningProcess | undefined;
    afterEach(async () => {
      await child?.stop('SIGKILL');
      child = undefined;
    });

    it('is replaced after the lease; resumed, it already knows it does not lead, is deposed, and its fenced write is refused', async () => {
      child = startProcess(process.execPath, ['--import', 'tsx', 'test/support/electionChild.ts'], {
        env: { ...process.env, ELECTION_PG_URL: db.url, ELECTION_REPLICA_ID: 'frozen', ELECTION_LEASE_MS: String(LEASE_MS), ELECTION_RENEW_MS: String(RENEW_MS) },
      });
      const proc = child;
      const lines = () =>
        proc
          .output()
          .split('\n')
          .filter((l) => l.startsWith('{'))
          .map((l) => JSON.parse(l) as { event: string; epoch?: number; reason?: string; outcome?: string; isLeader?: boolean });
      const event = (name: string) => lines().filter((l) => l.event === name);
      await waitFor('the child is elected', () => event('elected').length === 1, 20_000);
      const childEpoch = event('elected')[0]!.epoch!;
      // While it leads, its fenced write goes through.
      proc.child.kill('SIGUSR2');
      await waitFor('the child writes', () => event('write').length === 1);
      expect(event('write')[0]).toMatchObject({ epoch: childEpoch, outcome: 'written' });

      const standby = replica(null, 'standby');
      await waitFor('the standby sees the child lead', () => standby.election.status().leaderId === 'frozen');
      proc.child.kill('SIGSTOP');
      // Postgres ends the silent session (idle_session_timeout), freeing the lock.
      await oneLeader([standby]);
      expect(standby.election.epoch()).toBe(childEpoch + 1);
      const gone = await pool.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'sbc-election:frozen'");
      expect(gone.rows).toEqual([{ n: 0 }]);

      proc.child.kill('SIGCONT');
      await waitFor('the child is deposed', () => event('deposed').length === 1);
      expect(event('resumed')).toEqual([{ event: 'resumed', isLeader: false }]);
      expect(event('deposed')[0]!.reason).toMatch(/^(lease-expired|session-lost)$/);
      proc.child.kill('SIGUSR2');
      await waitFor('the stale write is answered', () => event('write').length === 2);
      expect(event('write')[1]).toMatchObject({ epoch: childEpoch, outcome: 'fenced' });
      // Nothing of the refused write reached the table: only the row written while it led.
      const rows = await pool.query("SELECT priority FROM dispatcher WHERE description = 'sbc:frozen'");
      expect(rows.rows).toEqual([{ priority: childEpoch }]);
      // It came back as a follower; the standby keeps leading.
      await new Promise((r) => setTimeout(r, 4 * RENEW_MS));
      expect(standby.election.isLeader()).toBe(true);
      expect(event('elected')).toHaveLength(1);
    });
  });
});
