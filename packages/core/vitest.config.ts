import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    pool: 'forks',
    // The remote-GC tests call global.gc() to prove releases reach the owner.
    execArgv: ['--expose-gc'],
    testTimeout: 20_000,
    // Only meaningful after the setup of the portable run (vitest.portable.config.ts).
    exclude: ['**/node_modules/**', 'test/portable/**'],
  },
});
