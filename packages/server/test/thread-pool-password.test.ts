/**
 * A ThreadPoolServer keeps one password back-off for all its workers: the budget per
 * user is the same whatever the number of threads.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { AuthenticationError, loadIdentity, opaqueServerFor, PasswordFile } from '@keyway/secure';
// Workers load built JavaScript, so this suite drives the built package.
import { connect, type PoolDisconnectEvent, ThreadPoolServer } from '@keyway/server';
import { afterAll, describe, expect, it } from 'vitest';
import { keyFiles, knownHosts } from './helpers.js';

const fixtures = join(import.meta.dirname, 'fixtures');
const files = keyFiles();
const passwordsPath = join(files.dir, 'passwords');
afterAll(files.cleanup);

// Two free failures, then a back-off longer than the test.
const limiter = {
  perUser: { freeFailures: 2, baseDelayMs: 600_000, maxDelayMs: 600_000 },
  perSource: { freeFailures: 1_000 },
};

async function attemptsReachingOpaque(threads: number, attempts: number): Promise<number> {
  const server = new ThreadPoolServer(pathToFileURL(join(fixtures, 'lab-service.mjs')), {
    threads,
    maxUnauthenticatedPerSource: attempts,
    // Every attempt must reach the limiter: no random early drop of concurrent handshakes.
    maxStartups: { start: attempts, rate: 30, full: attempts * 2 },
    authenticator: {
      module: pathToFileURL(join(fixtures, 'password-auth.mjs')).href,
      options: { hostKeyPath: files.hostKeyPath, passwordsPath, limiter },
    },
    loginLimiter: limiter,
  });
  const reasons: string[] = [];
  server.on('disconnect', (e: PoolDisconnectEvent) => reasons.push(e.reason ?? ''));
  const { port } = (await server.listen()) as { port: number };
  try {
    const results = await Promise.all(
      Array.from({ length: attempts }, (_, i) =>
        connect('127.0.0.1', port, {
          knownHosts: knownHosts(port),
          username: 'alice',
          password: `guess ${i}`,
          // The test record uses cheap stretching, below a client's default floor.
          ksfBounds: { scryptMinMemoryBytes: 0 },
          timeout: 60_000,
        }).then(
          () => undefined,
          (e: unknown) => e,
        ),
      ),
    );
    for (const result of results) expect(result).toBeInstanceOf(AuthenticationError);
    const deadline = Date.now() + 10_000;
    while (reasons.length < attempts && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(reasons).toHaveLength(attempts);
    return reasons.filter((r) => !r.includes('rate limited')).length;
  } finally {
    await server.close(0);
  }
}

describe('ThreadPoolServer password back-off', () => {
  it('the per-user budget is the same with 1, 2 and 4 threads', async () => {
    const passwords = new PasswordFile(passwordsPath);
    await passwords.register(
      opaqueServerFor(await loadIdentity(files.hostKeyPath)),
      'alice',
      'the real one',
      { ksf: { algorithm: 'scrypt', N: 1024, r: 8, p: 1 } },
    );
    await passwords.save();
    for (const threads of [1, 2, 4]) {
      // Two free failures, then the one whose failure starts the back-off.
      expect(await attemptsReachingOpaque(threads, 16), `${threads} threads`).toBe(3);
    }
  }, 120_000);
});
