/**
 * The password limiter behind a load balancer: a failed login is charged to the client
 * address in the PROXY header, not to the balancer all clients share.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AuthenticationError,
  LoginLimiter,
  opaqueServerFor,
  PasswordFile,
  passwordAuth,
} from '@keyway/secure';
import { afterAll, describe, expect, it } from 'vitest';
import { connect, ThreadedServer } from '../src/index.js';
import { hostKey, knownHosts, Lab } from './helpers.js';
import { proxyV2, startRelay } from './proxy-relay.js';

const dir = mkdtempSync(join(tmpdir(), 'keyway-proxy-login-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('PROXY protocol and the login limiter', () => {
  it('charges failed logins to the header address, not the balancer', async () => {
    const passwords = await PasswordFile.load(join(dir, 'passwords'));
    // Cheap stretching keeps the test fast; the default is scrypt N=2^16.
    await passwords.register(opaqueServerFor(hostKey), 'alice', 'correct horse', {
      ksf: { algorithm: 'scrypt', N: 1024, r: 8, p: 1 },
    });
    const limiter = new LoginLimiter({
      perUser: { freeFailures: 100 },
      perSource: { freeFailures: 1, baseDelayMs: 600_000, maxDelayMs: 600_000 },
    });
    const server = new ThreadedServer(Lab, {
      authenticator: passwordAuth({ identity: hostKey, passwords, limiter }),
      proxyProtocol: { trusted: ['127.0.0.1'] },
    });
    const { port } = (await server.listen()) as { port: number };
    const client = { address: '192.0.2.7', port: 40001 };
    const relay = await startRelay(port, () =>
      proxyV2({ source: client, destination: { address: '10.0.0.1', port } }),
    );
    try {
      // One free failure, then the source waits.
      for (let attempt = 0; attempt < 2; attempt++) {
        await expect(
          connect('127.0.0.1', relay.port, {
            knownHosts: knownHosts(relay.port),
            ksfBounds: { scryptMinMemoryBytes: 0 },
            username: 'alice',
            password: 'wrong',
          }),
        ).rejects.toBeInstanceOf(AuthenticationError);
      }
      expect(limiter.check('bob', '192.0.2.7')).toMatchObject({ allowed: false, reason: 'source' });
      expect(limiter.check('bob', '127.0.0.1').allowed).toBe(true);
    } finally {
      await relay.close();
      await server.close(0);
    }
  }, 30_000);
});
