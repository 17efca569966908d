import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    pool: 'forks',
    // Release tests call global.gc() to prove a closed channel is not kept alive.
    execArgv: ['--expose-gc'],
    testTimeout: 20_000,
  },
});
