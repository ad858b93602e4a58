import { InMemoryOperationLog } from '../../fakes/inMemoryOperationLog.js';
import type { FastifyInstance } from 'fastify';
import type { StatusResult } from '../../../src/events/commands.js';
import { buildApp, type AppDeps } from '../../../src/http/app.js';
import type { AgentCommands } from '../../../src/nats/agentCommands.js';
import { createMetrics, type Metrics } from '../../../src/metrics/metrics.js';
import { InMemoryCallStore } from '../../fakes/inMemoryCallStore.js';
import { InMemoryRoomRegistry } from '../../fakes/inMemoryRoomRegistry.js';
import { InMemoryRoomPolicyStore } from '../../fakes/inMemoryRoomPolicyStore.js';
import { InMemoryNodeRegistry } from '../../fakes/inMemoryNodeRegistry.js';
import { FakeStore } from '../../fakes/fakeDispatcherStore.js';
import { FakeKamailio } from '../../fakes/fakeKamailio.js';
import { silentLogger } from '../../fakes/silentLogger.js';
import { Reconciler } from '../../../src/reconciler/reconciler.js';
import type { ClusterStatus } from '../../../src/leader/election.js';
import { node, policy } from '../core/fixtures.js';

export const managed = new Set([1, 2, 3]);

/** The live facts FakeAgents answers for a node, unless a test sets another answer. */
export function liveStatus(nodeId: string): StatusResult {
  return {
    coreUuid: nodeId,
    version: '1.11.2-release+git~20260809T162310Z~3f13ad1b1d~64bit',
    uptimeMs: 60_400,
    ready: true,
    sessions: 2,
    maxSessions: 1000,
    sessionsSinceStartup: 16,
    sessionsPeak: 4,
    sipProfile: { name: 'internal', running: true, sipUri: 'sip:10.0.0.1:5080' },
    inboundPaused: false,
    blockers: [],
    readAt: Date.UTC(2026, 11, 1, 12, 0, 0),
  };
}

/** Agents that answer from `answers` (a result, or an error to throw); every ask recorded. */
export class FakeAgents implements AgentCommands {
  readonly asked: string[] = [];
  readonly answers = new Map<string, StatusResult | Error>();
  status(nodeId: string): Promise<StatusResult> {
    this.asked.push(nodeId);
    const answer = this.answers.get(nodeId) ?? liveStatus(nodeId);
    return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer);
  }
}

/** The in-memory world behind the API: nodes 1 (active), 2 (gone), 3 (joining); k1 answers, k2 is down. */
/** The clock of the call store and the calls routes in these tests (2026-12-02T05:00:00Z). */
export const CALLS_NOW = Date.UTC(2026, 11, 2, 5, 0, 0);

export interface Fakes {
  readonly registry: InMemoryNodeRegistry;
  readonly rooms: InMemoryRoomRegistry;
  readonly operations: InMemoryOperationLog;
  readonly policies: InMemoryRoomPolicyStore;
  /** The call store, its clock at CALLS_NOW. */
  readonly calls: InMemoryCallStore;
  readonly store: FakeStore;
  readonly kamailios: readonly [FakeKamailio, FakeKamailio];
  readonly metrics: Metrics;
  readonly agents: FakeAgents;
  /** Reconciles the fakes; its last pass is what /v1/dispatcher shows (tests run passes). */
  readonly reconciler: Reconciler;
  /** What /v1/cluster answers: this replica leads, one other follows. */
  readonly cluster: ClusterStatus;
}

export interface TestApp extends Fakes {
  readonly app: FastifyInstance;
}

export async function fakes(): Promise<Fakes> {
  const registry = new InMemoryNodeRegistry();
  await registry.put(node(1), undefined, 1000);
  await registry.put(node(2, { state: 'gone', goneReason: 'expired' }), undefined, 1000);
  await registry.put(node(3, { state: 'joining' }), undefined, 1000);
  const store = new FakeStore(managed);
  const up = new FakeKamailio('http://k1/RPC', store, 0, () => 0);
  const down = new FakeKamailio('http://k2/RPC', store, 0, () => 0);
  down.down = true;
  const metrics = createMetrics();
  const reconciler = new Reconciler({
    registry, store, kamailios: [up, down], policy, managedSets: managed, logger: silentLogger, metrics,
    membership: { heartbeatMisses: 3, goneRetentionMs: 60_000, maxClockSkewMs: 60_000 },
    // A long window: the first pass reloads, later changes show as drift until it opens.
    reloadDeltaMs: 60_000, resyncMs: 10_000, unknownNodeGraceMs: 5000, now: () => 1000,
  });
  const cluster: ClusterStatus = {
    replicaId: 'cp-a',
    role: 'leader',
    epoch: 7,
    leaderId: 'cp-a',
    replicas: [
      { replicaId: 'cp-a', order: 1, role: 'leader', lastSeenMsAgo: 0, live: true },
      { replicaId: 'cp-b', order: 2, role: 'follower', lastSeenMsAgo: 412.6, live: true },
    ],
  };
  return { registry, rooms: new InMemoryRoomRegistry(), policies: new InMemoryRoomPolicyStore(() => 1_764_650_000_000), calls: new InMemoryCallStore({ now: () => CALLS_NOW }), operations: new InMemoryOperationLog(), store, kamailios: [up, down], metrics, agents: new FakeAgents(), reconciler, cluster };
}

/** The HTTP API over `fx` (fresh fakes by default); `over` replaces any dependency. */
export async function testApp(over: Partial<AppDeps> = {}, fx?: Fakes): Promise<TestApp> {
  const f = fx ?? (await fakes());
  const app = await buildApp({
    registry: f.registry,
    rooms: f.rooms,
    policies: f.policies,
    calls: f.calls,
    operations: f.operations,
    now: () => CALLS_NOW,
    agents: f.agents,
    dispatcher: f.reconciler,
    managedSets: managed,
    cluster: { status: () => f.cluster },
    metrics: f.metrics,
    version: '9.9.9',
    readiness: { postgres: () => Promise.resolve() },
    ...over,
  });
  return { ...f, app };
}

/** The sample line of `name` with exactly these labels (in the order declared), as /metrics shows it. */
export async function scrape(app: FastifyInstance, name: string, labels: Record<string, string>): Promise<string | undefined> {
  const res = await app.inject('/metrics');
  const wanted = `${name}{${Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(',')}} `;
  return res.body.split('\n').find((l) => l.startsWith(wanted));
}
