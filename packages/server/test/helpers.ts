/** Keys, files and services shared by the server tests. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { currentCall, Service } from '@keyway/core';
import { AuthorizedKeys, generateIdentity, type Identity, KnownHosts } from '@keyway/secure';

export const hostKey = generateIdentity('lab-host');
export const alice = generateIdentity('alice@lab');
export const mallory = generateIdentity('mallory@elsewhere');

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The test service: arithmetic, slow calls, objects by reference, credentials. */
export class Lab extends Service {
  static instances = 0;
  constructor() {
    super();
    Lab.instances++;
  }
  add(a: number, b: number) {
    return a + b;
  }
  async sleep(ms: number) {
    await sleep(ms);
    return ms;
  }
  open(name: string) {
    return new Counter(name);
  }
  whoami() {
    return currentCall().connection.credentials;
  }
  secret() {
    const credentials = currentCall().connection.credentials as { publicKey?: { comment: string } };
    if (credentials.publicKey?.comment !== 'alice@lab')
      throw new Error('only alice may read the secret');
    return 42;
  }
}

export class Counter {
  count = 0;
  constructor(readonly name: string) {}
  increment() {
    return ++this.count;
  }
}

export function authorizedKeys(...ids: Identity[]): AuthorizedKeys {
  return AuthorizedKeys.parse(ids.map((i) => i.publicKeyLine()).join('\n'));
}

export function knownHosts(port: number, key = hostKey): KnownHosts {
  const known = KnownHosts.parse('');
  known.add('127.0.0.1', port, key.publicKey);
  return known;
}

/** A private temp directory with the lab's key files written into it. */
export function keyFiles(): {
  dir: string;
  hostKeyPath: string;
  authorizedKeysPath: string;
  cleanup(): void;
} {
  const dir = mkdtempSync(join(tmpdir(), 'keyway-server-'));
  const hostKeyPath = join(dir, 'host_key');
  const authorizedKeysPath = join(dir, 'authorized_keys');
  writeFileSync(hostKeyPath, hostKey.toOpenSSH().privateKey, { mode: 0o600 });
  writeFileSync(authorizedKeysPath, `${alice.publicKeyLine()}\n`, { mode: 0o600 });
  return {
    dir,
    hostKeyPath,
    authorizedKeysPath,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
