/**
 * The browser's host-key stores, run on Node: a pinned key matches only itself, in each of
 * its three spellings; trust-on-first-use keeps known_hosts text in the given storage.
 */
import { generateIdentity } from '@keyway/secure';
import { describe, expect, it } from 'vitest';
import { pinnedHostKey, storedKnownHosts, type TextStorage } from '../src/host-keys.js';

const server = generateIdentity('server');
const other = generateIdentity('other');

function memoryStorage(): TextStorage & { items: Map<string, string> } {
  const items = new Map<string, string>();
  return {
    items,
    getItem: (key) => items.get(key) ?? null,
    setItem: (key, value) => void items.set(key, value),
  };
}

describe('pinnedHostKey', () => {
  for (const [spelling, pin] of [
    ['fingerprint', server.fingerprint],
    ['key line', server.publicKeyLine()],
    ['key bytes', server.publicKey],
  ] as const) {
    it(`matches only the pinned key, given as its ${spelling}`, () => {
      const store = pinnedHostKey(pin);
      expect(store.check('h', 1, server.publicKey).status).toBe('match');
      expect(store.check('h', 1, other.publicKey).status).toBe('mismatch');
      expect(() => store.add('h', 1, other.publicKey)).toThrow(TypeError);
    });
  }

  it('refuses what is not a key or a fingerprint', () => {
    expect(() => pinnedHostKey('SHA256:short')).toThrow();
    expect(() => pinnedHostKey(new Uint8Array(31))).toThrow(TypeError);
  });
});

describe('storedKnownHosts', () => {
  it('records a key on save and finds it in a later store over the same storage', async () => {
    const storage = memoryStorage();
    const first = storedKnownHosts(storage, 'kh');
    expect(first.check('127.0.0.1', 8080, server.publicKey).status).toBe('unknown');
    first.add('127.0.0.1', 8080, server.publicKey);
    await first.save();
    expect(storage.items.get('kh')).toContain(server.publicKeyLine().split(' ')[1]);
    const later = storedKnownHosts(storage, 'kh');
    expect(later.check('127.0.0.1', 8080, server.publicKey).status).toBe('match');
    expect(later.check('127.0.0.1', 8080, other.publicKey).status).toBe('mismatch');
    expect(later.check('127.0.0.1', 8081, server.publicKey).status).toBe('unknown');
  });
});
