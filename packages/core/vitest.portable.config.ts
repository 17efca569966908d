import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// msgpackr's browser entry, as a bundler would pick it for a browser or a web worker (its
// Node entry loads an optional native addon).
const msgpackrBrowser = fileURLToPath(new URL('./node_modules/msgpackr/index.js', import.meta.url));

/**
 * The portable run: the suites that exercise the engine's scheduling (pipelining, remote
 * GC, iteration) over the in-memory transport, with Node-only globals removed first
 * (test/portable/remove-node-globals.ts). Core must run in browsers and web workers.
 */
export default defineConfig({
  resolve: {
    alias: [{ find: /^msgpackr$/, replacement: msgpackrBrowser }],
  },
  test: {
    name: 'portable',
    include: [
      'test/pipelining.test.ts',
      'test/gc.test.ts',
      'test/iteration.test.ts',
      'test/portable/*.test.ts',
    ],
    setupFiles: ['test/portable/remove-node-globals.ts'],
    pool: 'forks',
    // The remote-GC tests call gc() to prove releases reach the owner.
    execArgv: ['--expose-gc'],
    testTimeout: 20_000,
  },
});
