/**
 * `connect()` with a password function (a prompt): the function runs after the host key
 * check, and the time a person takes to type does not count against `timeout`.
 */
import { Service } from '@keyway/core';
import {
  generateIdentity,
  KnownHosts,
  opaqueServerFor,
  PasswordFile,
  passwordAuth,
} from '@keyway/secure';
import { connect, ThreadedServer } from '@keyway/server';
import { describe, expect, it } from 'vitest';

class Echo extends Service {
  echo(text: string): string {
    return text;
  }
}

describe('connect with a password function', () => {
  it('waits for a prompt longer than its timeout, once the host key is verified', async () => {
    const hostKey = generateIdentity('host');
    const passwords = new PasswordFile();
    await passwords.register(opaqueServerFor(hostKey), 'alice', 'pw', {
      ksf: { algorithm: 'scrypt', N: 1024, r: 8, p: 1 },
    });
    const server = new ThreadedServer(Echo, {
      authenticator: passwordAuth({ identity: hostKey, passwords }),
    });
    const { port } = (await server.listen()) as { port: number };
    try {
      const knownHosts = KnownHosts.parse('');
      knownHosts.add('127.0.0.1', port, hostKey.publicKey);
      const seen: string[] = [];
      const conn = await connect('127.0.0.1', port, {
        knownHosts,
        username: 'alice',
        ksfBounds: { scryptMinMemoryBytes: 0 },
        timeout: 1500,
        password: ({ hostKey: key }) => {
          seen.push(key.fingerprint);
          return new Promise((resolve) => setTimeout(() => resolve('pw'), 2500));
        },
      });
      expect(seen).toEqual([hostKey.fingerprint]);
      expect(await (conn.root as unknown as Echo).echo('hi')).toBe('hi');
      await conn.close();
    } finally {
      await server.close(0);
    }
  });
});
