/**
 * LoginLimiter with an injected clock: free allowance, doubling back-off with a cap,
 * forgetting, per-source grouping, success semantics, and bounded memory.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_LOGIN_LIMITS, LoginLimiter, sourceKey } from '../src/opaque/login-limiter.js';

function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

describe('LoginLimiter', () => {
  it('allows the free failures, then backs off doubling up to the cap', () => {
    const c = clock();
    const l = new LoginLimiter(
      {
        perUser: { freeFailures: 3, baseDelayMs: 1000, maxDelayMs: 5000 },
        perSource: { freeFailures: 100 },
      },
      c.now,
    );
    for (let i = 0; i < 3; i++) {
      expect(l.check('alice', '10.0.0.1').allowed).toBe(true);
      l.recordFailure('alice', '10.0.0.1');
    }
    expect(l.check('alice', '10.0.0.1').allowed).toBe(true); // 3 failures = allowance used
    l.recordFailure('alice', '10.0.0.1');
    expect(l.check('alice', '10.0.0.1')).toEqual({
      allowed: false,
      reason: 'user',
      retryAfterMs: 1000,
    });
    c.advance(1000);
    expect(l.check('alice', '10.0.0.1').allowed).toBe(true);
    l.recordFailure('alice', '10.0.0.1');
    expect(l.check('alice', '10.0.0.2')).toMatchObject({ allowed: false, retryAfterMs: 2000 });
    c.advance(2000);
    l.recordFailure('alice', '10.0.0.1');
    expect(l.check('alice', 'x')).toMatchObject({ retryAfterMs: 4000 });
    c.advance(4000);
    l.recordFailure('alice', '10.0.0.1');
    expect(l.check('alice', 'x')).toMatchObject({ retryAfterMs: 5000 }); // capped
    // Other users are unaffected.
    expect(l.check('bob', '10.0.0.1').allowed).toBe(true);
  });

  it('forgets a quiet key, and success clears only the user counter', () => {
    const c = clock();
    const l = new LoginLimiter(
      {
        perUser: { freeFailures: 1, forgetAfterMs: 10_000 },
        perSource: { freeFailures: 2, baseDelayMs: 500, forgetAfterMs: 10_000 },
      },
      c.now,
    );
    l.recordFailure('alice', '192.0.2.7');
    l.recordFailure('alice', '192.0.2.7');
    expect(l.check('alice', '192.0.2.99')).toMatchObject({ allowed: false, reason: 'user' });
    l.recordSuccess('alice', '192.0.2.7');
    expect(l.check('alice', '192.0.2.99').allowed).toBe(true);
    l.recordFailure('carol', '192.0.2.7'); // third failure from this source
    expect(l.check('dave', '192.0.2.7')).toMatchObject({ allowed: false, reason: 'source' });
    c.advance(10_000);
    expect(l.check('dave', '192.0.2.7').allowed).toBe(true);
    expect(l.check('carol', '192.0.2.7').allowed).toBe(true);
    expect(l.tracked).toEqual({ users: 0, sources: 0 });
  });

  it('counts unknown and known user names alike (no enumeration through limits)', () => {
    const c = clock();
    const l = new LoginLimiter({ perUser: { freeFailures: 2 } }, c.now);
    for (const name of ['alice', 'no-such-user']) {
      for (let i = 0; i < 3; i++) l.recordFailure(name, `198.51.100.${i}`);
    }
    expect(l.check('alice', '203.0.113.1')).toEqual(l.check('no-such-user', '203.0.113.1'));
  });

  it('groups IPv6 sources by prefix and maps IPv4-mapped addresses', () => {
    expect(sourceKey('::ffff:192.0.2.1')).toBe('192.0.2.1');
    expect(sourceKey('2001:db8:1:2:3:4:5:6')).toBe('2001:db8:1:2:0:0:0:0/64');
    expect(sourceKey('2001:db8:1:2::9')).toBe('2001:db8:1:2:0:0:0:0/64');
    expect(sourceKey('fe80::1%eth0', 128)).toBe('fe80:0:0:0:0:0:0:1/128');
    const c = clock();
    const l = new LoginLimiter({ perSource: { freeFailures: 1 } }, c.now);
    l.recordFailure('a', '2001:db8:1:2::1');
    l.recordFailure('b', '2001:db8:1:2::2');
    expect(l.check('c', '2001:db8:1:2::3')).toMatchObject({ allowed: false, reason: 'source' });
    expect(l.check('c', '2001:db8:1:3::3').allowed).toBe(true);
  });

  it('keeps memory bounded', () => {
    const c = clock();
    const l = new LoginLimiter({ maxEntries: 50 }, c.now);
    for (let i = 0; i < 500; i++) l.recordFailure(`user${i}`, `10.0.${i >> 8}.${i & 255}`);
    expect(l.tracked).toEqual({ users: 50, sources: 50 });
  });

  it('validates its options and has frozen defaults', () => {
    expect(Object.isFrozen(DEFAULT_LOGIN_LIMITS.perUser)).toBe(true);
    expect(() => new LoginLimiter({ perUser: { freeFailures: -1 } })).toThrow(RangeError);
    expect(() => new LoginLimiter({ perUser: { baseDelayMs: 10, maxDelayMs: 5 } })).toThrow(
      RangeError,
    );
    expect(() => new LoginLimiter({ ipv6PrefixBits: 0 })).toThrow(RangeError);
    expect(() => new LoginLimiter({ maxEntries: 0 })).toThrow(RangeError);
  });

  it('admit counts an attempt at once, so pending attempts cannot outrun the budget', () => {
    const c = clock();
    const l = new LoginLimiter(
      { perUser: { freeFailures: 2, baseDelayMs: 1000 }, perSource: { freeFailures: 100 } },
      c.now,
    );
    // Nothing settled yet: three admitted (two free, the third starts the back-off).
    const admitted = Array.from({ length: 10 }, () => l.admit('alice', '10.0.0.1'));
    expect(admitted.filter((a) => a.allowed)).toHaveLength(3);
    expect(admitted.at(-1)).toMatchObject({ allowed: false, reason: 'user', retryAfterMs: 1000 });
  });

  it('a settled success refunds its count and clears the user; a failure stays counted', () => {
    const c = clock();
    const l = new LoginLimiter(
      { perUser: { freeFailures: 1, baseDelayMs: 1000 }, perSource: { freeFailures: 1 } },
      c.now,
    );
    const first = l.admit('alice', '10.0.0.1');
    if (!first.allowed) throw new Error('first attempt refused');
    first.settle(true);
    first.settle(false); // only the first settlement counts
    expect(l.tracked.users).toBe(0);
    const second = l.admit('alice', '10.0.0.1');
    if (!second.allowed) throw new Error('second attempt refused');
    second.settle(false);
    expect(l.admit('bob', '10.0.0.1').allowed).toBe(true); // the source's second attempt
    expect(l.admit('carol', '10.0.0.1')).toMatchObject({ allowed: false, reason: 'source' });
  });
});
