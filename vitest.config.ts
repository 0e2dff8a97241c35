import { defineConfig } from 'vitest/config';

// Two tiers, one run (`npm test` runs both; `npm run test:unit` runs the first alone):
// - unit: tests beside the code (`src/**/*.test.ts`, `bench/**/*.test.ts`, `scripts/**/*.test.ts`)
//   that need no service at all. The project points every service address at nothing, so a unit
//   test that reaches for Redis, PostgreSQL or Docker fails instead of passing quietly.
// - e2e: everything under test/, plus `*.e2e.test.ts` beside the code for the few tests there that
//   need a service (the real-Docker executor test). They start real processes, containers and
//   browsers.
const E2E = '**/*.e2e.test.ts';

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Test files start real processes and containers; two cores run two files at once comfortably.
    fileParallelism: true,
    maxWorkers: 2,
    // One temporary folder per run, removed at its end (test/support/run-tmp.ts).
    globalSetup: ['test/support/run-tmp.ts'],
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['src/**/*.test.ts', 'bench/**/*.test.ts', 'scripts/**/*.test.ts'],
          exclude: [E2E, '**/node_modules/**'],
          testTimeout: 10_000,
          hookTimeout: 10_000,
          env: {
            REDIS_URL: 'redis://127.0.0.1:1',
            DATABASE_URL: 'postgres://jarvis@127.0.0.1:1/unit-tests-need-no-database',
            TEST_DATABASE_URL: 'postgres://jarvis@127.0.0.1:1/unit-tests-need-no-database',
            DOCKER_HOST: 'unix:///nonexistent/unit-tests-need-no-docker.sock',
          },
        },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['test/**/*.test.ts', 'src/' + E2E],
        },
      },
    ],
  },
});
