import type { FastifyInstance } from 'fastify';
import { buildApp, type AppDeps } from '../../../src/http/app.js';
import { createMetrics, type Metrics } from '../../../src/metrics/metrics.js';
import { InMemoryNodeRegistry } from '../../../src/registry/nodeRegistry.js';
import { FakeKamailio, FakeStore } from '../reconciler/fakes.js';
import { node, policy } from '../core/fixtures.js';

export const managed = new Set([1, 2, 3]);

/** The in-memory world behind the API: nodes 1 (active), 2 (gone), 3 (joining); k1 answers, k2 is down. */
export interface Fakes {
  readonly registry: InMemoryNodeRegistry;
  readonly store: FakeStore;
  readonly kamailios: readonly [FakeKamailio, FakeKamailio];
  readonly metrics: Metrics;
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
  return { registry, store, kamailios: [up, down], metrics: createMetrics() };
}

/** The HTTP API over `fx` (fresh fakes by default); `over` replaces any dependency. */
export async function testApp(over: Partial<AppDeps> = {}, fx?: Fakes): Promise<TestApp> {
  const f = fx ?? (await fakes());
  const app = await buildApp({
    registry: f.registry,
    kamailios: f.kamailios,
    policy,
    managedSets: managed,
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
