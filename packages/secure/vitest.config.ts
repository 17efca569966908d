import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    // The package's `#platform/*` imports point at built files; tests run the sources.
    alias: [
      {
        find: /^#platform\/(.*)$/,
        replacement: fileURLToPath(new URL('./src/platform/node/$1.ts', import.meta.url)),
      },
    ],
  },
  test: {
    pool: 'forks',
    // Release tests call global.gc() to prove a closed channel is not kept alive.
    execArgv: ['--expose-gc'],
    testTimeout: 20_000,
  },
});
