import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    setupFiles: ['test/support/buffer-equality.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Test files share one PostgreSQL server; each creates its own databases. Most of a test's time
    // is spent waiting on child processes and the servers, so more files run at once than there are cores.
    fileParallelism: true,
    maxWorkers: 3,
  },
});
