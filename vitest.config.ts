import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Integration suites open real sockets and SQLite files; two cores, so two workers.
    maxWorkers: 2,
  },
});
