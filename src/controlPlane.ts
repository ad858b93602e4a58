import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Redis } from 'ioredis';
import pg from 'pg';
import type { Logger } from 'pino';
import type { FastifyInstance } from 'fastify';
import type { ControlPlaneConfig } from './config/controlPlane.js';
import { withTimeout } from './agent/nats.js';
import { ConfigError } from './config/env.js';
import { checkReloadDelta } from './config/kamailioReloadDelta.js';
import { subjects } from './events/subjects.js';
import { buildApp } from './http/app.js';
import { reconcilerReadiness, replicaReadiness } from './http/readiness.js';
import { KamailioAddressBook } from './kamailio/addresses.js';
import { instrumented } from './kamailio/instrumented.js';
import { Election } from './leader/election.js';
import { HttpKamailioRpc } from './kamailio/httpKamailioRpc.js';
import { createMetrics, type Metrics } from './metrics/metrics.js';
import { NatsAgentCommands, type AgentCommands } from './nats/agentCommands.js';
import { authenticatorFor } from './nats/auth.js';
import { consumeMembershipNotices, publishMembershipNotice } from './nats/membershipNotices.js';
import { natsMessageBus } from './nats/natsMessageBus.js';
import { NodeMessageConsumer } from './nats/nodeMessageConsumer.js';
import { startCallsConsumer } from './nats/callsConsumer.js';
import { consumePinMessages } from './nats/pinMessages.js';
import { createHookRunner } from './health/hooks.js';
import { loadHealthPlugins } from './health/plugins.js';
import { PgOperationLog } from './postgres/operationLog.js';
import { PgScaleTargetStore } from './postgres/scaleTargetStore.js';
import { PgTokenStore } from './postgres/tokenStore.js';
import { provisionerFromConfig } from './provisioners/fromConfig.js';
import { PgCallStore } from './postgres/callStore.js';
import { PgDispatcherStore } from './postgres/dispatcherStore.js';
import { migrate } from './postgres/migrations.js';
import { Reconciler } from './reconciler/reconciler.js';
import { publishEpoch } from './redis/epochFence.js';
import { RedisHealthStore } from './redis/redisHealthStore.js';
import { RedisNodeRegistry } from './redis/redisNodeRegistry.js';
import { RedisRoomRegistry } from './redis/redisRoomRegistry.js';
import { PgRoomPolicyStore } from './postgres/roomPolicyStore.js';
import { slotsRecoveredFrom } from './registry/membership.js';
import { waitForDependency } from './startup.js';
import { PACKAGE_VERSION } from './version.js';

/** One throw-away connection: the shared client's own reconnect loop would hide the cause. */
async function probeRedis(url: string): Promise<void> {
  const probe = new Redis(url, { lazyConnect: true, connectTimeout: 3000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  // ioredis rejects connect() with a bare "Connection is closed."; the socket error says why.
  let cause: Error | undefined;
  probe.on('error', (err: Error) => (cause ??= err));
  try {
    await probe.connect();
    await probe.ping();
  } catch (err) {
    throw cause ?? err;
  } finally {
    probe.disconnect();
  }
}

export interface ControlPlane {
  readonly app: FastifyInstance;
  readonly reconciler: Reconciler;
  readonly consumer: NodeMessageConsumer;
  readonly registry: RedisNodeRegistry;
  readonly metrics: Metrics;
  readonly nats: NatsConnection;
  /** Commands to one node's agent, over NATS request/reply. */
  readonly agents: AgentCommands;
  /** This replica's part in electing the one leader that reconciles. */
  readonly election: Election;
  /** Shutdown in dependency order: HTTP, NATS drain, reconciler, election, Redis and Postgres. */
  stop(): Promise<void>;
}

/**
 * SBC_RELOAD_DELTA_MS shorter than a Kamailio's reload_delta is a configuration error
 * (see config/kamailioReloadDelta.ts); asked first, so it is reported before any wait.
 */
async function refuseShorterReloadDelta(kamailios: readonly HttpKamailioRpc[], reloadDeltaMs: number, logger: Logger): Promise<void> {
  const { problems, unverified } = await checkReloadDelta(kamailios, reloadDeltaMs);
  for (const u of unverified) logger.warn({ kamailio: u.kamailio, why: u.why }, 'reload_delta of this Kamailio not verified against SBC_RELOAD_DELTA_MS');
  if (problems.length > 0) throw new ConfigError(problems);
}

/**
 * Creates every client from the parsed config, runs migrations, starts consuming and
 * reconciling. Does not listen: the caller decides (src/main.ts listens, tests inject).
 * Throws ConfigError when a Kamailio's configuration contradicts this one.
 */
export async function startControlPlane(config: ControlPlaneConfig, logger: Logger): Promise<ControlPlane> {
  const plugins = loadHealthPlugins(config.SBC_HEALTH_PLUGINS_FILE);
  if (!plugins.ok) throw new ConfigError(plugins.problems);
  const rpcs = config.SBC_KAMAILIO_RPC_URLS.map((u) => new HttpKamailioRpc(u, config.SBC_RPC_TIMEOUT_MS));
  await refuseShorterReloadDelta(rpcs, config.SBC_RELOAD_DELTA_MS, logger);
  const metrics = createMetrics();
  // Every RPC from here on is counted and timed in one place.
  const kamailios = rpcs.map((k) => instrumented(k, metrics));
  const membership = {
    heartbeatMisses: config.SBC_HEARTBEAT_MISSES,
    goneRetentionMs: config.SBC_GONE_RETENTION_MS,
    maxClockSkewMs: config.SBC_MAX_CLOCK_SKEW_MS,
  };
  const pool = new pg.Pool({ connectionString: config.SBC_PG_URL, max: 4, connectionTimeoutMillis: 5000, statement_timeout: 10_000 });
  pool.on('error', (err) => logger.error({ err }, 'idle Postgres client failed'));
  const redis = new Redis(config.SBC_REDIS_URL, {
    lazyConnect: true,
    connectTimeout: 5000,
    commandTimeout: 5000,
    maxRetriesPerRequest: 2,
    retryStrategy: (times) => Math.min(2000, 100 * times),
  });
  redis.on('error', (err) => logger.warn({ err: err.message }, 'Redis connection problem'));
  const closeAll: (() => Promise<unknown>)[] = [() => pool.end(), () => redis.quit().catch(() => redis.disconnect())];
  const wait = { timeoutMs: config.SBC_STARTUP_TIMEOUT_MS, logger };
  try {
    // Each dependency gets a bounded wait with backoff; the error names the one missing.
    await waitForDependency('Redis', config.SBC_REDIS_URL, () => probeRedis(config.SBC_REDIS_URL), wait);
    await redis.connect();
    await waitForDependency('Postgres', config.SBC_PG_URL, () => pool.query('SELECT 1'), wait);
    const ran = await migrate(pool);
    if (ran.length > 0) logger.info({ migrations: ran }, 'database migrated');

    const registry = new RedisNodeRegistry(redis, config.SBC_REDIS_PREFIX, (nodeId, reason) =>
      logger.error({ nodeId, reason }, 'unreadable node record in Redis skipped'),
    );
    const rooms = new RedisRoomRegistry(redis, config.SBC_REDIS_PREFIX, (room, reason) => logger.error({ room, reason }, 'unreadable room record in Redis skipped'));
    const store = new PgDispatcherStore(pool, config.managedSets);
    const policies = new PgRoomPolicyStore(pool);
    const retentionMs = config.SBC_CALL_RETENTION_DAYS * 86_400_000;
    const calls = new PgCallStore(pool, { retentionMs });
    const operations = new PgOperationLog(pool);
    const scaleTargets = new PgScaleTargetStore(pool);
    const tokens = new PgTokenStore(pool);
    const provisioner = provisionerFromConfig(config);
    const addresses = new KamailioAddressBook(config.SBC_KAMAILIO_SIP_URIS);
    const health = new RedisHealthStore(redis, config.SBC_REDIS_PREFIX, (nodeId, reason) => logger.error({ nodeId, reason }, 'unreadable health report in Redis skipped'));
    // Custom sensor reads and hook runs end at shutdown rather than outlive the process's clients.
    const healthRuns = new AbortController();
    closeAll.unshift(() => Promise.resolve(healthRuns.abort()));
    const late: { agents?: NatsAgentCommands } = {};
    // Since when this replica has heard NATS without a break (null while it is cut off): the
    // leader takes no node for dead over a silence that may be its own.
    const hearing: { since: number | null } = { since: Date.now() };
    const reconciler = new Reconciler({
      addresses,
      registry,
      store,
      kamailios,
      policy: config.policy,
      managedSets: config.managedSets,
      membership,
      reloadDeltaMs: config.SBC_RELOAD_DELTA_MS,
      markHoldMs: config.SBC_KAMAILIO_MARK_HOLD_MS,
      resyncMs: config.SBC_RESYNC_MS,
      unknownNodeGraceMs: config.SBC_UNKNOWN_NODE_GRACE_MS,
      logger: logger.child({ component: 'reconciler' }),
      metrics,
      leadership: { epoch: () => election.epoch(), fencedOut: (err) => election.fencedOut(err) },
      calls,
      ...(config.SBC_HEALTH === 'on'
        ? {
            health: {
              policy: config.healthPolicy,
              everyMs: config.SBC_HEALTH_EVERY_MS,
              store: health,
              sensors: plugins.plugins.sensors,
              signal: healthRuns.signal,
              ...(plugins.plugins.hooks.length > 0 ? { hooks: createHookRunner(plugins.plugins.hooks, { concurrency: 2, maxQueued: 100, signal: healthRuns.signal }) } : {}),
            },
          }
        : {}),
      heardSince: () => hearing.since,
      // The agents' command client needs NATS, which is connected below; asked only in passes after that.
      drainChecks: {
        agents: {
          status: (nodeId) => (late.agents ? late.agents.status(nodeId) : Promise.reject(new Error('NATS not connected yet'))),
          pauseInbound: (nodeId, paused) => (late.agents ? late.agents.pauseInbound(nodeId, paused) : Promise.reject(new Error('NATS not connected yet'))),
          hangupAll: (nodeId, cause) => (late.agents ? late.agents.hangupAll(nodeId, cause) : Promise.reject(new Error('NATS not connected yet'))),
        },
        operations: { log: operations, actor: `leader:${config.SBC_INSTANCE_ID}` },
      },
      ...(config.SBC_AUTOSCALE !== 'off'
        ? {
            autoscaler: {
              mode: config.SBC_AUTOSCALE,
              policy: { targetUtilisation: config.SBC_AUTOSCALE_TARGET_UTILISATION / 100, minReplicas: config.SBC_AUTOSCALE_MIN_REPLICAS, maxReplicas: config.SBC_AUTOSCALE_MAX_REPLICAS },
              cooldowns: { upMs: config.SBC_AUTOSCALE_UP_COOLDOWN_MS, downMs: config.SBC_AUTOSCALE_DOWN_COOLDOWN_MS },
              everyMs: config.SBC_AUTOSCALE_EVERY_MS,
              operations,
            },
          }
        : {}),
      scale: {
        targets: scaleTargets,
        provisioner,
        retryMs: config.SBC_SCALE_RETRY_MS,
        drainDeadlineMs: config.SBC_DRAIN_DEADLINE_MS,
        operations: { log: operations, actor: `leader:${config.SBC_INSTANCE_ID}` },
      },
      rooms: {
        registry: rooms,
        pinGraceMs: config.SBC_ROOM_PIN_GRACE_MS,
        policies,
        maxMembersPerNode: config.SBC_ROOM_MAX_MEMBERS_PER_NODE > 0 ? config.SBC_ROOM_MAX_MEMBERS_PER_NODE : Number.MAX_SAFE_INTEGER,
        links: {
          // The agents' command client needs NATS, which is connected below; links run only in passes after that.
          commands: {
            link: (nodeId, args) => (late.agents ? late.agents.link(nodeId, args) : Promise.reject(new Error('NATS not connected yet'))),
            unlink: (nodeId, args) => (late.agents ? late.agents.unlink(nodeId, args) : Promise.reject(new Error('NATS not connected yet'))),
          },
          via: () => kamailios.map((k) => addresses.sipUriOf(k.name)).find((u) => u !== undefined),
          setupGraceMs: config.SBC_ROOM_LINK_SETUP_MS,
          mediaTimeoutMs: config.SBC_ROOM_LINK_MEDIA_TIMEOUT_MS,
        },
      },
    });
    // Every replica consumes and serves the API; only the elected leader reconciles.
    const electionLog = logger.child({ component: 'election' });
    const election = new Election({
      connectionString: config.SBC_PG_URL,
      replicaId: config.SBC_INSTANCE_ID,
      order: config.SBC_REPLICA_ORDER ?? null,
      leaseMs: config.SBC_LEADER_LEASE_MS,
      renewMs: config.SBC_LEADER_RENEW_MS,
      announceEpoch: (epoch) => publishEpoch(redis, config.SBC_REDIS_PREFIX, epoch),
      onElected: (epoch) => {
        electionLog.info({ epoch }, 'elected leader: reconciling');
        reconciler.start();
      },
      onDeposed: (reason, epoch) => {
        electionLog.warn({ reason, epoch }, 'no longer the leader: reconciling stops');
        void reconciler.stop();
      },
      logger: electionLog,
      metrics: { leader: metrics.leader, leaderEpoch: metrics.leaderEpoch },
    });
    closeAll.unshift(() => election.stop());

    const nats = await waitForDependency(
      'NATS',
      config.SBC_NATS_URL,
      () =>
        connect({
          servers: config.SBC_NATS_URL,
          name: `sbc-control-plane-${config.SBC_INSTANCE_ID}`,
          ...(config.natsCredentials ? { authenticator: authenticatorFor(config.natsCredentials) } : {}),
          maxReconnectAttempts: -1,
          reconnectTimeWait: 500,
          timeout: 5000,
        }),
      wait,
    );
    closeAll.unshift(() => nats.close());

    const bus = natsMessageBus(nats, logger.child({ component: 'nats' }));
    const consumer = new NodeMessageConsumer({
      bus,
      subjects: subjects(config.SBC_NATS_PREFIX),
      registry,
      membership,
      metrics,
      logger: logger.child({ component: 'nats' }),
      instanceId: config.SBC_INSTANCE_ID,
      slotFor: slotsRecoveredFrom(store, registry),
      // Only the leader reconciles, and the queue group may have handed the message to a
      // follower: every replica hears of the change (the leader triggers, followers ignore it).
      onMembershipChange: (urgent) => {
        reconciler.trigger(urgent);
        publishMembershipNotice(bus, subjects(config.SBC_NATS_PREFIX).membershipChanged, urgent);
      },
      isKamailioAddress: (uri) => addresses.has(uri),
      conferences: {
        rooms,
        // A fact for the leader's next pass (pins confirmed or ended, splits found).
        onRecorded: () => {
          reconciler.trigger(false);
          publishMembershipNotice(bus, subjects(config.SBC_NATS_PREFIX).membershipChanged, false);
        },
      },
    });
    consumer.start();
    const notices = consumeMembershipNotices(bus, subjects(config.SBC_NATS_PREFIX).membershipChanged, (urgent) => reconciler.trigger(urgent), {
      metrics,
      logger: logger.child({ component: 'nats' }),
    });
    const pins = consumePinMessages(bus, subjects(config.SBC_NATS_PREFIX).kamailioPins, {
      rooms,
      metrics,
      logger: logger.child({ component: 'nats' }),
      // A fact for the leader's next pass, which may be on another replica.
      onPin: () => {
        reconciler.trigger(false);
        publishMembershipNotice(bus, subjects(config.SBC_NATS_PREFIX).membershipChanged, false);
      },
    });
    void (async () => {
      for await (const s of nats.status()) {
        if (s.type === 'disconnect' || s.type === 'reconnect') logger.warn({ nats: s.type }, 'NATS connection status');
        if (s.type === 'disconnect') hearing.since = null;
        // After a NATS outage agents may have sent into the void: ask for a fresh picture.
        if (s.type === 'reconnect') {
          hearing.since = Date.now();
          consumer.requestReannounce();
          reconciler.trigger(false);
        }
      }
    })();
    await nats.flush();
    // Every replica takes call events (one durable consumer shared); a stream or consumer it
    // cannot set up (NATS without JetStream, a user without $JS.API) stops the start.
    const callsIngest = config.SBC_CALLS_INGEST === 'on'
      ? await startCallsConsumer({
          nats,
          prefix: config.SBC_NATS_PREFIX,
          subjects: subjects(config.SBC_NATS_PREFIX),
          store: calls,
          metrics,
          logger: logger.child({ component: 'calls' }),
          batchMax: config.SBC_CALL_INGEST_BATCH,
          batchDelayMs: config.SBC_CALL_INGEST_DELAY_MS,
          ackWaitMs: config.SBC_CALL_INGEST_ACK_WAIT_MS,
          maxAckPending: config.SBC_CALL_INGEST_MAX_PENDING,
          retryDelayMs: config.SBC_CALL_INGEST_RETRY_MS,
          stream: { maxAgeMs: retentionMs },
        })
      : undefined;
    const agents = new NatsAgentCommands({ nats, subjects: subjects(config.SBC_NATS_PREFIX), timeoutMs: config.SBC_AGENT_COMMAND_TIMEOUT_MS });
    late.agents = agents;
    election.start();
    consumer.requestReannounce();

    const staleAfterMs = Math.max(3 * config.SBC_RESYNC_MS, 30_000);
    const { apiAuth } = config;
    if (!apiAuth) logger.warn('API authentication is off (SBC_API_AUTH=off): anyone who reaches the HTTP API can drain, scale and create tokens');
    else if (!apiAuth.bootstrap) logger.info('API tokens on without a bootstrap token (SBC_API_BOOTSTRAP_TOKEN_FILE): only tokens already in Postgres are accepted; set one to create the first with `sbcctl token create`');
    const app = await buildApp({
      registry,
      ...(config.SBC_HEALTH === 'on' ? { health } : {}),
      rooms,
      policies,
      calls,
      operations,
      tokens,
      ...(apiAuth ? { auth: { tokens, openPaths: apiAuth.openPaths, ...(apiAuth.bootstrap ? { bootstrapSha256: apiAuth.bootstrap.sha256 } : {}) } } : {}),
      scale: {
        targets: scaleTargets,
        provisioner: provisioner.kind,
        minReplicas: config.SBC_SCALE_MIN_REPLICAS,
        maxReplicas: config.SBC_SCALE_MAX_REPLICAS,
        changed: () => {
          reconciler.trigger(true);
          publishMembershipNotice(bus, subjects(config.SBC_NATS_PREFIX).membershipChanged, true);
        },
      },
      drains: {
        changed: () => {
          reconciler.trigger(true);
          publishMembershipNotice(bus, subjects(config.SBC_NATS_PREFIX).membershipChanged, true);
        },
        applied: async (timeoutMs) => election.isLeader() && (await withTimeout(reconciler.nextPass(), timeoutMs)),
        defaultDeadlineMs: config.SBC_DRAIN_DEADLINE_MS,
      },
      onPolicyChange: () => {
        reconciler.trigger(false);
        publishMembershipNotice(bus, subjects(config.SBC_NATS_PREFIX).membershipChanged, false);
      },
      agents,
      dispatcher: reconciler,
      cluster: election,
      managedSets: config.managedSets,
      metrics,
      logger: logger.child({ component: 'http' }),
      version: PACKAGE_VERSION,
      readiness: {
        redis: () => registry.ping(),
        postgres: () => store.ping(),
        nats: () => (nats.isClosed() ? Promise.reject(new Error('NATS connection closed')) : nats.flush()),
        // The leader: a recent pass in which at least one Kamailio was in sync (the detail names
        // each one's state). A follower: a leader is known.
        reconciler: replicaReadiness(election, reconcilerReadiness(reconciler, staleAfterMs)),
      },
    });

    return {
      app,
      reconciler,
      consumer,
      registry,
      metrics,
      nats,
      agents,
      election,
      async stop() {
        await app.close();
        await consumer.stop();
        await callsIngest?.stop();
        await notices.drain();
        await pins.drain();
        await nats.drain().catch(() => undefined);
        await reconciler.stop();
        healthRuns.abort();
        // After the last pass: a leader that stops hands over within about one renew.
        await election.stop();
        await redis.quit().catch(() => redis.disconnect());
        await pool.end();
      },
    };
  } catch (err) {
    for (const close of closeAll) await close().catch(() => undefined);
    throw err;
  }
}
