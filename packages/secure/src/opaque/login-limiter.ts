/**
 * Failed-login limiting for `passwordAuth` (DESIGN.md §4), in the spirit of sshd's
 * MaxAuthTries and PerSourcePenalties: failures are counted per user name and per source
 * address; past a free allowance each further failure doubles a back-off during which
 * attempts are refused before any OPAQUE work is done. Counters are forgotten after a quiet
 * period. A pure class: time comes from an injected clock, memory is bounded.
 *
 * Unknown user names are counted exactly like known ones, so the limiter's behaviour does
 * not reveal which names exist. A success clears the user's counter but not the source's,
 * so an attacker holding one valid account cannot launder failures against other users.
 */

/** Limits for one kind of key (user or source). */
export interface BackoffLimits {
  /** Failures allowed before back-off starts. */
  readonly freeFailures: number;
  /** Back-off after the first failure beyond the allowance, in ms; doubles each time. */
  readonly baseDelayMs: number;
  /** Longest back-off, in ms. */
  readonly maxDelayMs: number;
  /** A key with no failure for this long starts afresh, in ms. */
  readonly forgetAfterMs: number;
}

/** Options of {@link LoginLimiter}; every field has a documented default. */
export interface LoginLimiterOptions {
  /** Per user name. Default: 5 free, 1 s doubling to 15 min, forgotten after 1 h. */
  perUser?: Partial<BackoffLimits>;
  /** Per source address. Default: 10 free, 1 s doubling to 10 min, forgotten after 1 h. */
  perSource?: Partial<BackoffLimits>;
  /** IPv6 sources are grouped by this prefix length (a host usually owns a /64). Default 64. */
  ipv6PrefixBits?: number;
  /** Most keys tracked per table; the stalest are dropped beyond it. Default 10 000. */
  maxEntries?: number;
}

/** Default limits, frozen. */
export const DEFAULT_LOGIN_LIMITS = Object.freeze({
  perUser: Object.freeze({
    freeFailures: 5,
    baseDelayMs: 1_000,
    maxDelayMs: 15 * 60_000,
    forgetAfterMs: 60 * 60_000,
  }),
  perSource: Object.freeze({
    freeFailures: 10,
    baseDelayMs: 1_000,
    maxDelayMs: 10 * 60_000,
    forgetAfterMs: 60 * 60_000,
  }),
  ipv6PrefixBits: 64,
  maxEntries: 10_000,
});

/** The limiter's verdict on an attempt. */
export type LoginVerdict =
  | { readonly allowed: true }
  | {
      readonly allowed: false;
      /** Which counter refused: for local logs only, never for the peer. */
      readonly reason: 'user' | 'source';
      /** Milliseconds until an attempt may be allowed again. */
      readonly retryAfterMs: number;
    };

interface Counter {
  failures: number;
  lastFailure: number;
  blockedUntil: number;
}

function limits(given: Partial<BackoffLimits> | undefined, base: BackoffLimits): BackoffLimits {
  const out = { ...base, ...given };
  for (const [k, v] of Object.entries(out)) {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
      throw new RangeError(`limit ${k} must be a finite number >= 0`);
    }
  }
  if (out.maxDelayMs < out.baseDelayMs) throw new RangeError('maxDelayMs must be >= baseDelayMs');
  return Object.freeze(out);
}

function expandIPv6(addr: string): number[] | undefined {
  const [head = '', tail, extra] = addr.split('::');
  if (extra !== undefined) return undefined;
  const parse = (s: string) => (s === '' ? [] : s.split(':'));
  let groups = [...parse(head), ...(tail === undefined ? [] : ['*']), ...parse(tail ?? '')];
  const last = groups.at(-1);
  if (last?.includes('.')) {
    const v4 = last.split('.').map(Number);
    if (v4.length !== 4 || v4.some((n) => !Number.isInteger(n) || n < 0 || n > 255))
      return undefined;
    groups = [
      ...groups.slice(0, -1),
      ((v4[0]! << 8) | v4[1]!).toString(16),
      ((v4[2]! << 8) | v4[3]!).toString(16),
    ];
  }
  const fill = 8 - groups.filter((g) => g !== '*').length;
  const out: number[] = [];
  for (const g of groups) {
    if (g === '*') for (let i = 0; i < fill; i++) out.push(0);
    else if (/^[0-9a-f]{1,4}$/i.test(g)) out.push(Number.parseInt(g, 16));
    else return undefined;
  }
  return out.length === 8 && (tail !== undefined || fill === 0) ? out : undefined;
}

/**
 * Normalises a source address to its counting key: IPv4-mapped IPv6 becomes IPv4, other
 * IPv6 addresses are masked to `prefixBits`, anything else is used as given.
 */
export function sourceKey(address: string, prefixBits = 64): string {
  const addr = address.replace(/%.*$/, '').toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(addr);
  if (mapped) return mapped[1]!;
  if (!addr.includes(':')) return addr;
  const groups = expandIPv6(addr);
  if (!groups) return addr;
  const masked = groups.map((g, i) => {
    const bits = Math.max(0, Math.min(16, prefixBits - i * 16));
    return bits === 0 ? 0 : g & (0xffff << (16 - bits)) & 0xffff;
  });
  return `${masked.map((g) => g.toString(16)).join(':')}/${prefixBits}`;
}

/**
 * Counts failed logins per user and per source, with exponential back-off.
 * @example
 * const limiter = new LoginLimiter();
 * const verdict = limiter.check(user, remoteAddress);
 * if (!verdict.allowed) throw new AuthenticationError(`rate limited (${verdict.reason})`);
 * // ... run OPAQUE ...
 * ok ? limiter.recordSuccess(user, remoteAddress) : limiter.recordFailure(user, remoteAddress);
 */
export class LoginLimiter {
  readonly #user: BackoffLimits;
  readonly #source: BackoffLimits;
  readonly #prefixBits: number;
  readonly #maxEntries: number;
  readonly #now: () => number;
  readonly #users = new Map<string, Counter>();
  readonly #sources = new Map<string, Counter>();

  /**
   * @param options - limits; see {@link DEFAULT_LOGIN_LIMITS}.
   * @param now - clock in ms (injected by tests); default `Date.now`.
   */
  constructor(options: LoginLimiterOptions = {}, now: () => number = Date.now) {
    this.#user = limits(options.perUser, DEFAULT_LOGIN_LIMITS.perUser);
    this.#source = limits(options.perSource, DEFAULT_LOGIN_LIMITS.perSource);
    const bits = options.ipv6PrefixBits ?? DEFAULT_LOGIN_LIMITS.ipv6PrefixBits;
    if (!Number.isInteger(bits) || bits < 1 || bits > 128) {
      throw new RangeError('ipv6PrefixBits must be an integer in 1..128');
    }
    const max = options.maxEntries ?? DEFAULT_LOGIN_LIMITS.maxEntries;
    if (!Number.isInteger(max) || max < 1) throw new RangeError('maxEntries must be >= 1');
    if (typeof now !== 'function') throw new TypeError('now must be a function');
    this.#prefixBits = bits;
    this.#maxEntries = max;
    this.#now = now;
  }

  #live(table: Map<string, Counter>, key: string, l: BackoffLimits, t: number) {
    const c = table.get(key);
    if (c && t - c.lastFailure >= l.forgetAfterMs && t >= c.blockedUntil) {
      table.delete(key);
      return undefined;
    }
    return c;
  }

  /** Whether an attempt for `user` from `source` may proceed now. Changes no counter. */
  check(user: string, source: string): LoginVerdict {
    const t = this.#now();
    const u = this.#live(this.#users, user, this.#user, t);
    const s = this.#live(this.#sources, sourceKey(source, this.#prefixBits), this.#source, t);
    const uWait = u ? u.blockedUntil - t : 0;
    const sWait = s ? s.blockedUntil - t : 0;
    if (uWait <= 0 && sWait <= 0) return { allowed: true };
    return uWait >= sWait
      ? { allowed: false, reason: 'user', retryAfterMs: uWait }
      : { allowed: false, reason: 'source', retryAfterMs: sWait };
  }

  #fail(table: Map<string, Counter>, key: string, l: BackoffLimits, t: number) {
    const c = this.#live(table, key, l, t) ?? { failures: 0, lastFailure: t, blockedUntil: 0 };
    c.failures++;
    c.lastFailure = t;
    const excess = c.failures - l.freeFailures;
    if (excess > 0) {
      const delay = Math.min(l.maxDelayMs, l.baseDelayMs * 2 ** Math.min(excess - 1, 52));
      c.blockedUntil = Math.max(c.blockedUntil, t + delay);
    }
    // Re-insert so Map order is staleness order, then drop the stalest beyond the bound.
    table.delete(key);
    table.set(key, c);
    while (table.size > this.#maxEntries) {
      const oldest = table.keys().next().value;
      if (oldest === undefined) break;
      table.delete(oldest);
    }
  }

  /** Records a failed attempt (wrong password, unknown user, bad KE3, timeout). */
  recordFailure(user: string, source: string): void {
    const t = this.#now();
    this.#fail(this.#users, user, this.#user, t);
    this.#fail(this.#sources, sourceKey(source, this.#prefixBits), this.#source, t);
  }

  /** Records a successful login: clears the user's counter; the source's stays. */
  recordSuccess(user: string, _source: string): void {
    this.#users.delete(user);
  }

  /** Number of tracked users and sources (for metrics). */
  get tracked(): { users: number; sources: number } {
    return { users: this.#users.size, sources: this.#sources.size };
  }
}
