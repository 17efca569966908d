/**
 * Password login end to end (docs/security.md "Authentication"): `connect({ username,
 * password })` against a server with `passwordAuth`, on the event loop and on the worker
 * pool (where the OPAQUE work runs in the workers). The password file on disk holds
 * neither the password nor a hash of it.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  AuthenticationError,
  connect,
  currentCall,
  generateIdentity,
  KnownHosts,
  opaqueServerFor,
  PasswordFile,
  passwordAuth,
  type Remote,
  Service,
  ThreadedServer,
  ThreadPoolServer,
} from 'keyway-rpc';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const PASSWORD = 'tr0ub4dor&3 but longer';
const hostKey = generateIdentity('password-host');
const dir = mkdtempSync(join(tmpdir(), 'keyway-e2e-'));
const hostKeyPath = join(dir, 'host_key');
const passwordsPath = join(dir, 'passwords');

class Whoami extends Service {
  whoami() {
    return { credentials: currentCall().connection.credentials };
  }
}

beforeAll(async () => {
  writeFileSync(hostKeyPath, hostKey.toOpenSSH().privateKey, { mode: 0o600 });
  const passwords = await PasswordFile.load(passwordsPath);
  // Cheap stretching keeps the test fast; the default is scrypt N=2^16.
  await passwords.register(opaqueServerFor(hostKey), 'alice', PASSWORD, {
    ksf: { algorithm: 'scrypt', N: 1024, r: 8, p: 1 },
  });
  await passwords.save();
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

// The records use cheap stretching, below a client's default floor.
const CHEAP_KSF_BOUNDS = { scryptMinMemoryBytes: 0 };

function known(port: number): KnownHosts {
  const k = KnownHosts.parse('');
  k.add('127.0.0.1', port, hostKey.publicKey);
  return k;
}

describe('password login, end to end', () => {
  it('the password file holds records only: no password, no hash of it', () => {
    const text = readFileSync(passwordsPath, 'utf8');
    expect(text).not.toContain(PASSWORD);
    for (const algorithm of ['md5', 'sha1', 'sha256', 'sha512']) {
      const digest = createHash(algorithm).update(PASSWORD).digest();
      expect(text).not.toContain(digest.toString('hex'));
      expect(text).not.toContain(digest.toString('base64'));
    }
  });

  it('ThreadedServer: the right password logs in as the user, a wrong one is refused', async () => {
    const server = new ThreadedServer(Whoami, {
      authenticator: passwordAuth({
        identity: hostKey,
        passwords: await PasswordFile.load(passwordsPath),
      }),
    });
    const { port } = (await server.listen()) as { port: number };
    try {
      const conn = await connect('127.0.0.1', port, {
        knownHosts: known(port),
        ksfBounds: CHEAP_KSF_BOUNDS,
        username: 'alice',
        password: PASSWORD,
      });
      const root = conn.root as Remote<Whoami>;
      expect(await root.whoami()).toMatchObject({
        credentials: { user: 'alice', methods: ['password'] },
      });
      await conn.close();
      await expect(
        connect('127.0.0.1', port, {
          knownHosts: known(port),
          ksfBounds: CHEAP_KSF_BOUNDS,
          username: 'alice',
          password: 'guess',
        }),
      ).rejects.toThrow(AuthenticationError);
      await expect(
        connect('127.0.0.1', port, {
          knownHosts: known(port),
          ksfBounds: CHEAP_KSF_BOUNDS,
          username: 'mallory',
          password: PASSWORD,
        }),
      ).rejects.toThrow(AuthenticationError);
    } finally {
      await server.close(0);
    }
  });

  it('ThreadPoolServer: OPAQUE runs in the workers', async () => {
    const server = new ThreadPoolServer(
      pathToFileURL(join(import.meta.dirname, 'fixtures', 'whoami-service.mjs')),
      {
        threads: 2,
        authenticator: {
          module: pathToFileURL(join(import.meta.dirname, 'fixtures', 'password-auth.mjs')).href,
          options: { hostKeyPath, passwordsPath },
        },
      },
    );
    const { port } = (await server.listen()) as { port: number };
    try {
      const conn = await connect('127.0.0.1', port, {
        knownHosts: known(port),
        ksfBounds: CHEAP_KSF_BOUNDS,
        username: 'alice',
        password: PASSWORD,
      });
      const result = (await (conn.root as unknown as { whoami(): Promise<unknown> }).whoami()) as {
        credentials: unknown;
        threadId: number;
      };
      expect(result.credentials).toMatchObject({ user: 'alice', methods: ['password'] });
      expect(result.threadId).toBeGreaterThan(0);
      await conn.close();
      await expect(
        connect('127.0.0.1', port, {
          knownHosts: known(port),
          ksfBounds: CHEAP_KSF_BOUNDS,
          username: 'alice',
          password: 'nope',
        }),
      ).rejects.toThrow(AuthenticationError);
    } finally {
      await server.close(0);
    }
  });
});
