import { defineConfig } from 'vitest/config';

// Every test here runs the real `keyway` binary in a child process (key stretching,
// servers, worker pools), so a test's budget is the process's, not vitest's 5 s default.
export default defineConfig({
  test: {
    testTimeout: 30_000,
  },
});
