import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Connection } from '@keyway/core';
// Workers load built JavaScript, so this suite drives the built package.
import { connect, ThreadPoolServer } from '@keyway/server';
import { afterAll, describe, expect, it } from 'vitest';
import { alice, keyFiles, knownHosts } from './helpers.js';

interface LabApi {
  sleep(ms: number): Promise<number>;
}

const fixtures = join(import.meta.dirname, 'fixtures');
const files = keyFiles();
afterAll(() => files.cleanup());

const CONNECTIONS = 30;

describe('ThreadPoolServer.close()', () => {
  it('delivers the last reply and CLOSE of every connection it drains', async () => {
    const server = new ThreadPoolServer(pathToFileURL(join(fixtures, 'lab-service.mjs')), {
      threads: 2,
      maxUnauthenticatedPerSource: 64,
      maxStartups: { start: 64, rate: 30, full: 100 },
      authenticator: {
        module: pathToFileURL(join(fixtures, 'lab-auth.mjs')).href,
        options: { hostKeyPath: files.hostKeyPath, authorizedKeysPath: files.authorizedKeysPath },
      },
    });
    const { port } = (await server.listen()) as { port: number };
    const conns: Connection[] = [];
    try {
      for (let i = 0; i < CONNECTIONS; i++) {
        conns.push(
          await connect('127.0.0.1', port, { identity: alice, knownHosts: knownHosts(port) }),
        );
      }
      const calls = conns.map((c, i) => (c.root as unknown as LabApi).sleep(200 + (i % 5)));
      // Every call has reached its worker before the server starts to drain.
      await new Promise((r) => setTimeout(r, 100));
      const closing = server.close(10_000);
      const settled = await Promise.allSettled(calls);
      expect(settled.filter((s) => s.status === 'rejected')).toEqual([]);
      // Each connection ends with the server's CLOSE, not a bare hang-up.
      const reasons = await Promise.all(
        conns.map((c) =>
          c.closed.then(
            (r) => r,
            (e) => e,
          ),
        ),
      );
      expect(reasons.filter((r) => r !== undefined).map(String)).toEqual([]);
      await closing;
    } finally {
      await Promise.all(conns.map((c) => c.close()));
      await server.close(0);
    }
  }, 30_000);
});
