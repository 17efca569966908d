/** known_hosts parsing never throws on content, never loses a line, never hangs. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { generateIdentity } from '../src/identity.js';
import { KnownHosts } from '../src/known-hosts.js';

const key = generateIdentity();
const other = generateIdentity();
const keyText = key.publicKeyLine();

// Pieces that make near-valid lines more likely than uniform noise would.
const token = fc.oneof(
  fc.constantFrom(
    '@revoked',
    '@cert-authority',
    '@bogus',
    '|1|',
    '[',
    ']:',
    '*',
    '?',
    '!',
    ',',
    ' ',
    '\t',
    '#',
    'host',
    '22',
    '2222',
  ),
  fc.constantFrom(
    keyText,
    'ssh-ed25519',
    'ssh-rsa',
    'AAAA',
    '|1|AAAAAAAAAAAAAAAAAAAAAAAAAAA=|AAAAAAAAAAAAAAAAAAAAAAAAAAA=',
  ),
  fc.string({ maxLength: 12 }),
);
const line = fc.array(token, { maxLength: 8 }).map((parts) => parts.join(''));
const file = fc.array(line, { maxLength: 12 }).map((lines) => lines.join('\n'));

describe('known_hosts parser properties', () => {
  it('parses any text, keeps it byte-for-byte, and answers every query', () => {
    fc.assert(
      fc.property(
        fc.oneof(file, fc.string({ maxLength: 500 })),
        fc.constantFrom('host', 'h', 'x.example'),
        fc.integer({ min: 1, max: 65535 }),
        (text, host, port) => {
          const db = KnownHosts.parse(text);
          const normalized = text.replace(/\r?\n/g, '\n');
          expect(db.toString()).toBe(
            normalized === '' || normalized.endsWith('\n') ? normalized : `${normalized}\n`,
          );
          const status = db.check(host, port, key.publicKey).status;
          expect(['match', 'unknown', 'mismatch', 'revoked']).toContain(status);
          db.find(host, port);
          for (const entry of db.list()) expect(entry.line).toBeGreaterThan(0);
          // Hashing never changes which keys a host matches.
          const before = db.check(host, port, other.publicKey).status;
          db.hash();
          expect(db.check(host, port, key.publicKey).status).toBe(status);
          expect(db.check(host, port, other.publicKey).status).toBe(before);
          expect(KnownHosts.parse(db.toString()).check(host, port, key.publicKey).status).toBe(
            status,
          );
        },
      ),
      { numRuns: 500 },
    );
  });

  it('finds what it adds, plain or hashed, at any port', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[a-z0-9][a-z0-9.-]{0,30}$/),
        fc.integer({ min: 1, max: 65535 }),
        fc.boolean(),
        (host, port, hash) => {
          const db = new KnownHosts();
          const at = db.add(host, port, key.publicKey, { hash });
          expect(db.check(host, port, key.publicKey)).toEqual({ status: 'match', line: at });
          expect(db.check(host, port, other.publicKey).status).toBe('mismatch');
          expect(db.check(host, port === 1 ? 2 : port - 1, key.publicKey).status).toBe('unknown');
          expect(db.remove(host, port)).toBe(1);
          expect(db.check(host, port, key.publicKey).status).toBe('unknown');
        },
      ),
      { numRuns: 300 },
    );
  });
});
