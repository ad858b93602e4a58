import type { Redis } from 'ioredis';
import type { HealthReport } from '../core/health.js';
import { NODE_HEALTH } from '../core/node.js';
import type { HealthStore } from '../ports/healthStore.js';

/**
 * One hash, `{prefix}health`: node id -> JSON report. The health step forgets a node when it
 * leaves the registry, so the hash holds one field per known node.
 */
function isReading(x: unknown): boolean {
  if (typeof x !== 'object' || x === null) return false;
  const r = x as Record<string, unknown>;
  return typeof r.sensor === 'string' && Number.isFinite(r.value) && Number.isFinite(r.score);
}

export class RedisHealthStore implements HealthStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly onCorrupt: (nodeId: string, reason: string) => void = () => {},
  ) {}

  private get key(): string {
    return `${this.prefix}health`;
  }

  async all(): Promise<Map<string, HealthReport>> {
    const raw = await this.redis.hgetall(this.key);
    const out = new Map<string, HealthReport>();
    for (const [nodeId, json] of Object.entries(raw)) {
      const report = this.decode(nodeId, json);
      if (report) out.set(nodeId, report);
    }
    return out;
  }

  async write(reports: ReadonlyMap<string, HealthReport>, forget: readonly string[]): Promise<void> {
    if (reports.size === 0 && forget.length === 0) return;
    const tx = this.redis.multi();
    if (reports.size > 0) tx.hset(this.key, Object.fromEntries([...reports].map(([id, r]) => [id, JSON.stringify(r)])));
    if (forget.length > 0) tx.hdel(this.key, ...forget);
    const results = await tx.exec();
    const failed = results?.find(([err]) => err !== null);
    if (failed) throw failed[0] as Error;
  }

  private decode(nodeId: string, json: string): HealthReport | undefined {
    try {
      const r = JSON.parse(json) as HealthReport;
      const valid =
        typeof r === 'object' &&
        r !== null &&
        (NODE_HEALTH as readonly string[]).includes(r.state) &&
        Number.isFinite(r.since) &&
        Number.isFinite(r.score) &&
        Number.isFinite(r.at) &&
        Array.isArray(r.readings) &&
        (r.readings as unknown[]).every(isReading);
      if (valid) return r;
      this.onCorrupt(nodeId, 'health report does not have the expected shape');
    } catch (err) {
      this.onCorrupt(nodeId, (err as Error).message);
    }
    return undefined;
  }
}
