import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    pool: 'forks',
    // The remote-GC tests call global.gc() to prove releases reach the owner.
    execArgv: ['--expose-gc'],
    testTimeout: 20_000,
  },
});
