/** authorized_keys parsing never throws on content, fails closed, never hangs. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AuthorizedKeys } from '../src/authorized-keys.js';
import { generateIdentity } from '../src/identity.js';

const key = generateIdentity('k');
const keyText = key.publicKeyLine();

const optionToken = fc.oneof(
  fc.constantFrom(
    'restrict',
    'from=',
    'expiry-time=',
    'keyway-services=',
    'command=',
    'no-pty',
    'pty',
    ',',
    '"',
    '\\"',
    '=',
    ' ',
  ),
  fc.constantFrom(
    '"192.0.2.0/24"',
    '"*"',
    '"!*"',
    '"20300101Z"',
    '"19700101"',
    '"calc,stats"',
    '"10.0.0.1/8"',
  ),
  fc.string({ maxLength: 8 }),
);
const optionsText = fc.array(optionToken, { maxLength: 8 }).map((parts) => parts.join(''));

describe('authorized_keys parser properties', () => {
  it('parses any text and keeps it byte-for-byte', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 400 }), async (text) => {
        const db = AuthorizedKeys.parse(text);
        const normalized = text.replace(/\r?\n/g, '\n');
        expect(db.toString()).toBe(
          normalized === '' || normalized.endsWith('\n') ? normalized : `${normalized}\n`,
        );
        db.list();
        expect(
          await db.authorize(key.publicKey, { remoteAddress: '192.0.2.1', service: 'calc' }),
        ).toBeUndefined();
      }),
      { numRuns: 500 },
    );
  });

  it('authorizes with random options only when every option is understood and satisfied', async () => {
    await fc.assert(
      fc.asyncProperty(
        optionsText,
        fc.constantFrom('192.0.2.1', '10.0.0.1', '::1'),
        fc.constantFrom('calc', 'admin', undefined),
        async (options, remoteAddress, service) => {
          const db = AuthorizedKeys.parse(`${options} ${keyText}`);
          const [entry] = db.list();
          const check = service === undefined ? { remoteAddress } : { remoteAddress, service };
          const { match, refusals } = await db.explain(key.publicKey, {
            ...check,
            now: new Date('2026-06-01T00:00:00Z'),
          });
          if (entry?.error !== undefined) expect(match).toBeUndefined();
          if (match !== undefined) {
            expect(entry?.error).toBeUndefined();
            const { from, services, expiryTime } = match.options;
            if (services !== undefined) expect(services).toContain(service);
            if (expiryTime !== undefined)
              expect(expiryTime.getTime()).toBeGreaterThanOrEqual(
                Date.parse('2026-06-01T00:00:00Z'),
              );
            if (from !== undefined) expect(from).not.toBe('!*');
          } else if (entry !== undefined) {
            expect(refusals.length + (entry.publicKey === undefined ? 1 : 0)).toBeGreaterThan(0);
          }
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('handles a long line of quotes and commas without blowing up', async () => {
    const db = AuthorizedKeys.parse(`${'"a",'.repeat(5000)} ${keyText}`);
    expect(db.list()[0]?.error).toBeDefined();
    expect(await db.authorize(key.publicKey)).toBeUndefined();
  });
});
