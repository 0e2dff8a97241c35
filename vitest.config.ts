import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'src/**/*.test.ts', 'scripts/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Test files start real processes and containers; two cores run two files at once comfortably.
    fileParallelism: true,
    maxWorkers: 2,
  },
});
