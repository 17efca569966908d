/**
 * Key files for the server benchmark (docs/security.md "Identities and key databases"): a
 * host key, one client key, the server's authorized_keys and, once the port is known, the
 * client's known_hosts — all in a private temp directory, as a real deployment keeps them
 * in files.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateIdentity, type Identity, KnownHosts } from '@keyway/secure';

/** Paths of the benchmark's key files and the identities written into them. */
export interface BenchKeys {
  readonly dir: string;
  readonly host: Identity;
  readonly client: Identity;
  readonly hostKeyPath: string;
  readonly clientKeyPath: string;
  readonly authorizedKeysPath: string;
  /** Writes known_hosts trusting the host key at 127.0.0.1:`port`; returns its path. */
  knownHostsFor(port: number): Promise<string>;
  cleanup(): void;
}

/** Makes the key files in a fresh 0700 temp directory. */
export function makeBenchKeys(): BenchKeys {
  const dir = mkdtempSync(join(tmpdir(), 'keyway-bench-'));
  const host = generateIdentity('bench-host');
  const client = generateIdentity('bench-client');
  const hostKeyPath = join(dir, 'host_key');
  const clientKeyPath = join(dir, 'id_ed25519');
  const authorizedKeysPath = join(dir, 'authorized_keys');
  writeFileSync(hostKeyPath, host.toOpenSSH().privateKey, { mode: 0o600 });
  writeFileSync(clientKeyPath, client.toOpenSSH().privateKey, { mode: 0o600 });
  writeFileSync(authorizedKeysPath, `${client.publicKeyLine()}\n`, { mode: 0o600 });
  return {
    dir,
    host,
    client,
    hostKeyPath,
    clientKeyPath,
    authorizedKeysPath,
    async knownHostsFor(port: number): Promise<string> {
      const path = join(dir, `known_hosts_${port}`);
      const known = KnownHosts.parse('');
      known.add('127.0.0.1', port, host.publicKey);
      await known.save(path);
      return path;
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
