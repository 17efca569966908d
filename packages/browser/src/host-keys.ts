/**
 * How a web page decides to trust a server's host key: a key or fingerprint the
 * application pins, or trust on first use remembered in the page's storage — the
 * browser's known_hosts, one per origin, since a page's storage is its origin's. Both are
 * host-key stores for the client handshake, so an unknown, changed or revoked key fails
 * with the same `HostKeyError` cases as on Node.
 */
import {
  ed25519Fingerprint,
  type HostKeyStore,
  KnownHosts,
  type KnownHostsAddOptions,
  type KnownHostsCheck,
  parsePublicKey,
} from '@keyway/secure';

/** Where {@link storedKnownHosts} keeps its text by default. */
export const DEFAULT_KNOWN_HOSTS_KEY = 'keyway:known_hosts';

/** The part of the Web Storage API a known-hosts store needs (`localStorage` has it). */
export interface TextStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

/**
 * known_hosts kept as text in the page's storage (its origin's `localStorage` by
 * default): what `accept-new` records on first use is checked on every later connection.
 * @param storage where the text lives; default `localStorage`
 * @param key the storage key; default {@link DEFAULT_KNOWN_HOSTS_KEY}
 * @returns a store for `connect()`'s `knownHosts`, with the parsed database as `hosts`
 */
export function storedKnownHosts(
  storage: TextStorage = globalThis.localStorage,
  key: string = DEFAULT_KNOWN_HOSTS_KEY,
): HostKeyStore & { readonly hosts: KnownHosts } {
  if (storage === undefined) throw new TypeError('storedKnownHosts needs a storage (localStorage)');
  const hosts = KnownHosts.parse(storage.getItem(key) ?? '');
  return {
    hosts,
    check: (host: string, port: number, publicKey: Uint8Array): KnownHostsCheck =>
      hosts.check(host, port, publicKey),
    add: (host: string, port: number, publicKey: Uint8Array, options?: KnownHostsAddOptions) =>
      hosts.add(host, port, publicKey, options),
    save: async () => {
      storage.setItem(key, hosts.toString());
    },
  };
}

/**
 * A store that trusts exactly one host key, for any host: the key an application ships
 * with its page (as `ssh-ed25519 AAAA…` or raw bytes) or its `SHA256:…` fingerprint.
 * Another key is a changed host key; nothing is ever added.
 * @throws {TypeError} when `pinned` is neither a key line, 32 key bytes nor a fingerprint
 */
export function pinnedHostKey(pinned: string | Uint8Array): HostKeyStore {
  let matches: (publicKey: Uint8Array) => boolean;
  if (pinned instanceof Uint8Array) {
    if (pinned.length !== 32) throw new TypeError('a pinned host key must be 32 bytes');
    const key = new Uint8Array(pinned);
    matches = (publicKey) => publicKey.length === 32 && publicKey.every((b, i) => b === key[i]);
  } else if (typeof pinned === 'string' && /^SHA256:[A-Za-z0-9+/]{43}$/.test(pinned)) {
    matches = (publicKey) => publicKey.length === 32 && ed25519Fingerprint(publicKey) === pinned;
  } else if (typeof pinned === 'string') {
    const key = parsePublicKey(pinned).key;
    matches = (publicKey) => publicKey.length === 32 && publicKey.every((b, i) => b === key[i]);
  } else {
    throw new TypeError('a pinned host key is a key line, 32 bytes or a SHA256: fingerprint');
  }
  return {
    check: (_host: string, _port: number, publicKey: Uint8Array): KnownHostsCheck =>
      matches(publicKey) ? { status: 'match' } : { status: 'mismatch' },
    add: () => {
      throw new TypeError('a pinned host key cannot learn new keys');
    },
    save: async () => {},
  };
}
