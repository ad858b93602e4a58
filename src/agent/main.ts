import { hostname } from 'node:os';
import { pino } from 'pino';
import { loadAgentConfig, type AgentConfig } from '../config/agent.js';
import { ConfigError } from '../config/env.js';
import { createAgent, type Agent } from './agent.js';
import { openFreeSwitchLink } from './esl.js';
import { closeNats, connectNats, natsBus } from './nats.js';
import { AGENT_INBOX_PREFIX, authenticatorFor } from '../nats/auth.js';
import { natsJetStreamRequests } from '../nats/callsStream.js';
import { jetStreamPublisher } from './callEvents.js';
import { PACKAGE_VERSION } from '../version.js';

/**
 * Entry point of the agent beside one FreeSWITCH. Owns the shutdown order: the agent
 * publishes `left` and closes ESL, then NATS is drained, then the process exits 0.
 */

/** After a signal, the whole shutdown must finish within this, or the process exits 1. */
const SHUTDOWN_DEADLINE_MS = 10_000;
const NATS_DRAIN_TIMEOUT_MS = 3000;

async function main(): Promise<void> {
  let config: AgentConfig;
  try {
    config = loadAgentConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const logger = pino({ level: config.logLevel, base: { service: 'sbc-agent', pid: process.pid } });
  logger.info(
    { version: PACKAGE_VERSION, nats: config.natsUrl, esl: `${config.esl.host}:${config.esl.port}`, machine: config.machineId ?? '(host:port of the SIP URI)' },
    'agent starting',
  );

  // Filled in as start-up proceeds; a signal stops whatever exists by then.
  const running: { agent?: Agent; closeNats?: () => Promise<void> } = {};
  let closing: Promise<void> | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (closing) return;
    logger.info({ signal }, 'signal received; shutting down');
    setTimeout(() => {
      logger.error('shutdown deadline passed; exiting');
      process.exit(1);
    }, SHUTDOWN_DEADLINE_MS).unref();
    closing = (async () => {
      await running.agent?.stop(signal);
      await running.closeNats?.();
    })();
    closing.then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  // Waits as long as it takes for NATS; a signal meanwhile exits with nothing to flush.
  // Its own inboxes: the calls stream's PubAcks come there (src/nats/auth.ts).
  const nc = await connectNats(config.natsUrl, `sbc-agent@${hostname()}`, logger.child({ component: 'nats' }), authenticatorFor(config.natsCredentials), {
    inboxPrefix: AGENT_INBOX_PREFIX,
  });
  running.closeNats = () => closeNats(nc, NATS_DRAIN_TIMEOUT_MS, logger);
  if (closing) return;

  const agent = createAgent(config, {
    openLink: () => openFreeSwitchLink({ ...config.esl, logger: logger.child({ component: 'esl' }), handshakeTimeoutMs: config.eslTimeoutMs }),
    bus: natsBus(nc),
    calls: jetStreamPublisher(natsJetStreamRequests(nc)),
    logger,
  });
  running.agent = agent;
  await agent.start();
}

main().catch((err: unknown) => {
  process.stderr.write(`agent failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
