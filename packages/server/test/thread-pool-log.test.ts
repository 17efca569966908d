import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { AuthLogEvent } from '@keyway/secure';
// Workers load built JavaScript, so this suite drives the built package.
import { connect, type PoolAuthenticatedEvent, ThreadPoolServer } from '@keyway/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alice, keyFiles, knownHosts, mallory } from './helpers.js';

const fixtures = join(import.meta.dirname, 'fixtures');
const files = keyFiles();
const logged: AuthLogEvent[] = [];
const authenticated: PoolAuthenticatedEvent[] = [];
let server: ThreadPoolServer;
let port: number;

beforeAll(async () => {
  server = new ThreadPoolServer(pathToFileURL(join(fixtures, 'lab-service.mjs')), {
    threads: 1,
    authenticator: {
      module: pathToFileURL(join(fixtures, 'lab-auth.mjs')).href,
      options: { hostKeyPath: files.hostKeyPath, authorizedKeysPath: files.authorizedKeysPath },
    },
    log: (event) => logged.push(event),
  });
  server.on('authenticated', (event: PoolAuthenticatedEvent) => authenticated.push(event));
  port = ((await server.listen()) as { port: number }).port;
});

afterAll(async () => {
  await server.close(0);
  files.cleanup();
});

describe('ThreadPoolServer log', () => {
  it("passes the workers' log events to the main thread: method, key, reason", async () => {
    const conn = await connect('127.0.0.1', port, {
      identity: alice,
      knownHosts: knownHosts(port),
    });
    await expect(
      connect('127.0.0.1', port, { identity: mallory, knownHosts: knownHosts(port) }),
    ).rejects.toThrow();
    await conn.close();
    expect(logged).toContainEqual(
      expect.objectContaining({
        method: 'publickey',
        outcome: 'success',
        remoteAddress: '127.0.0.1',
        fingerprint: alice.fingerprint,
      }),
    );
    expect(logged).toContainEqual(
      expect.objectContaining({
        method: 'publickey',
        outcome: 'failure',
        fingerprint: mallory.fingerprint,
        reason: 'key not authorized',
      }),
    );
    expect(authenticated[0]?.credentials?.publicKey?.fingerprint).toBe(alice.fingerprint);
  });
});
