/**
 * User enumeration through password login: the server's KE1 → KE2 work must not depend on
 * whether the user exists (or on how many users there are), and the KSF parameters in KE2
 * must not single out a user.
 */
import { describe, expect, it } from 'vitest';
import { PasswordServer } from '../src/auth/password-server.js';
import {
  formatKsfParams,
  generateIdentity,
  type KsfParams,
  opaqueServerFor,
  PasswordFile,
} from '../src/index.js';
import { OpaqueClientLogin } from '../src/opaque/client.js';
import { decodeLoginResponse } from '../src/opaque/login-messages.js';

const hostKey = generateIdentity('host');
const usual: KsfParams = { algorithm: 'scrypt', N: 1024, r: 8, p: 1 };
const rare: KsfParams = { algorithm: 'scrypt', N: 2048, r: 8, p: 1 };

/** `count` users sharing one real record (the server's work does not depend on it). */
async function manyUsers(count: number, ksfOf: (i: number) => KsfParams): Promise<PasswordFile> {
  const seed = new PasswordFile();
  const server = opaqueServerFor(hostKey);
  const { record } = await seed.register(server, 'seed', 'pw', { ksf: usual });
  const lines = [`@server-key ${Buffer.from(server.publicKey).toString('base64url')}`];
  const recordText = seed.toString().trim().split('\n').at(-1)!.split(' ')[3]!;
  for (let i = 0; i < count; i++) {
    lines.push(`user${i} ${formatKsfParams(ksfOf(i))} 2026-01-01T00:00:00Z ${recordText}`);
  }
  expect(record).toBeDefined();
  return PasswordFile.parse(`${lines.join('\n')}\n`);
}

const ke1 = () => OpaqueClientLogin.start('some guess').ke1;
const hash = new Uint8Array(32).fill(7);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

describe('password login does not reveal which users exist', () => {
  it('KE1 → KE2 takes the same time for known and unknown users at 20,000 users', async () => {
    const passwords = await manyUsers(20_000, (i) => (i % 10 === 0 ? rare : usual));
    const server = new PasswordServer(hostKey, passwords);
    const known: number[] = [];
    const unknown: number[] = [];
    // Warm up the JIT on both paths before measuring.
    for (let i = 0; i < 20; i++) {
      server.respond(`user${i}`, ke1(), hash);
      server.respond(`nobody${i}`, ke1(), hash);
    }
    // Interleaved, so that load from other processes hits both alike.
    for (let i = 0; i < 300; i++) {
      const pair: [string, number[]][] = [
        [`user${(i * 7919) % 20_000}`, known],
        [`stranger-${i}`, unknown],
      ];
      if (i % 2) pair.reverse();
      for (const [user, into] of pair) {
        const k = ke1();
        const t0 = performance.now();
        server.respond(user, k, hash);
        into.push(performance.now() - t0);
      }
    }
    const k = median(known);
    const u = median(unknown);
    expect(
      Math.abs(u - k) / k,
      `known ${k.toFixed(3)} ms, unknown ${u.toFixed(3)} ms`,
    ).toBeLessThan(0.1);
  }, 120_000);

  it('an unknown name gets KSF parameters drawn like a real user’s, the same on every probe', async () => {
    // 30 % of users have the rarer parameters.
    const passwords = await manyUsers(1_000, (i) => (i % 10 < 3 ? rare : usual));
    const server = new PasswordServer(hostKey, passwords);
    const ksfOf = (user: string) =>
      formatKsfParams(decodeLoginResponse(server.respond(user, ke1(), hash).response).ksf);
    let rareCount = 0;
    const names = Array.from({ length: 800 }, (_, i) => `candidate-${i}`);
    for (const name of names) if (ksfOf(name) === formatKsfParams(rare)) rareCount++;
    expect(rareCount / names.length).toBeGreaterThan(0.22);
    expect(rareCount / names.length).toBeLessThan(0.38);
    // A second probe of the same names sees the same parameters.
    for (const name of names.slice(0, 50)) expect(ksfOf(name)).toBe(ksfOf(name));
    // A real user's parameters are its own.
    expect(ksfOf('user1')).toBe(formatKsfParams(rare));
    expect(ksfOf('user5')).toBe(formatKsfParams(usual));
  }, 120_000);

  it('the fake parameters follow removals: none drawn from parameters no user has', async () => {
    const passwords = await manyUsers(100, (i) => (i % 2 ? rare : usual));
    const server = new PasswordServer(hostKey, passwords);
    for (let i = 1; i < 100; i += 2) passwords.remove(`user${i}`);
    for (let i = 0; i < 200; i++) {
      const { ksf } = decodeLoginResponse(server.respond(`ghost${i}`, ke1(), hash).response);
      expect(ksf).toEqual(usual);
    }
  });
});
