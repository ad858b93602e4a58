import pino from 'pino';
import { loadControlPlaneConfig } from './config/controlPlane.js';
import { ConfigError } from './config/env.js';
import { startControlPlane } from './controlPlane.js';
import { DependencyUnavailableError } from './startup.js';

async function main(): Promise<void> {
  let config;
  try {
    config = loadControlPlaneConfig();
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(err instanceof ConfigError ? 2 : 1);
  }
  const logger = pino({ level: config.SBC_LOG_LEVEL, base: { service: 'sbc-control-plane', instance: config.SBC_INSTANCE_ID } });
  let cp;
  try {
    cp = await startControlPlane(config, logger);
  } catch (err) {
    // A Kamailio's configuration that contradicts ours is a configuration error like the others.
    if (err instanceof ConfigError) {
      logger.fatal({ problems: err.problems }, 'invalid configuration');
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    if (err instanceof DependencyUnavailableError) {
      logger.fatal({ component: err.component, url: err.where }, err.message);
      process.stderr.write(`control plane cannot start: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  // Handlers go in before listen: Fastify logs "Server listening" inside listen(), and a
  // supervisor that stops us on that line must not meet the default (fatal) SIGTERM.
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    const force = setTimeout(() => {
      logger.error('shutdown took longer than 15 s; exiting');
      process.exit(1);
    }, 15_000);
    force.unref();
    cp.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  await cp.app.listen({ host: config.SBC_HTTP_HOST, port: config.SBC_HTTP_PORT });
}

main().catch((err: unknown) => {
  process.stderr.write(`control plane failed to start: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
