import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    pool: 'forks',
    // Starting Chromium and bundling the page take seconds on a loaded machine.
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
