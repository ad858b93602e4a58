import { defineConfig } from 'vitest/config';

// Unit tests are pure and fast; integration tests start real services (Postgres, Redis,
// NATS, Kamailio, sipp) on free loopback ports, so they get longer timeouts and fewer
// workers on a 2-core machine.
const SOLO = ['test/integration/call-correlation.test.ts', 'test/integration/rooms.test.ts', 'test/integration/docker-provisioner.test.ts', 'test/integration/compose.test.ts'];

export default defineConfig({
  test: {
    reporters: ['default', './test/support/summaryReporter.ts'],
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'test/standin/**/*.test.ts'],
          exclude: SOLO,
          globalSetup: ['test/support/testEngine.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          maxWorkers: 2,
          sequence: { groupOrder: 1 },
        },
      },
      {
        // Tests that assert every one of hundreds of calls succeeds, and failed (530 of 1,000)
        // only inside the whole suite with another integration file beside them: run alone, last.
        test: {
          name: 'integration-solo',
          include: SOLO,
          globalSetup: ['test/support/testEngine.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          maxWorkers: 1,
          sequence: { groupOrder: 2 },
        },
      },
    ],
  },
});
