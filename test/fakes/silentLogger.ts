import pino from 'pino';

/** A logger for tests that assert on outcomes, not on log lines. */
export const silentLogger = pino({ level: 'silent' });
