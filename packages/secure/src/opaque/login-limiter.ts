/**
 * Failed-login limiting for `passwordAuth` (docs/security.md, "Password login"), in the
 * spirit of sshd's MaxAuthTries and PerSourcePenalties: attempts are counted per user name
 * and per source address; past a free allowance each further failure doubles a back-off
 * during which attempts are refused before the record is used. Counters are forgotten
 * after a quiet period. A pure class: time comes from an injected clock, memory is bounded.
 *
 * An attempt counts as a failure from the moment it is admitted ({@link LoginLimiter.admit}
 * checks and counts in one synchronous step), because KE2 alone lets the client test its
 * guess offline: waiting for the outcome would let concurrent attempts all pass the check
 * before any of them is counted. A success later refunds its own count and clears the
 * user's counter; the source keeps the rest of its count, so an attacker holding one
 * valid account cannot launder failures against other users.
 *
 * Unknown user names are counted exactly like known ones, so the limiter's behaviour does
 * not reveal which names exist.
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

/** An admitted attempt: counted as a failure until it is settled as a success. */
export interface LoginTicket {
  /**
   * Reports the outcome. `true` refunds this attempt's count and clears the user's
   * counter; `false` leaves the failure counted. Only the first call has an effect.
   */
  settle(succeeded: boolean): void;
}

/** The answer of {@link LoginGate.admit}. */
export type LoginAdmission =
  | ({ readonly allowed: true } & LoginTicket)
  | {
      readonly allowed: false;
      /** Which counter refused: for local logs only, never for the peer. */
      readonly reason: 'user' | 'source';
      /** Milliseconds until an attempt may be allowed again. */
      readonly retryAfterMs: number;
    };

/**
 * What `passwordAuth` asks before it uses a user's record: a {@link LoginLimiter} in this
 * thread, or a server's shared limiter in another thread (answers may then be async).
 */
export interface LoginGate {
  /** Checks and counts one attempt at once; see {@link LoginLimiter.admit}. */
  admit(user: string, source: string): LoginAdmission | Promise<LoginAdmission>;
}

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
 * const admission = limiter.admit(user, remoteAddress);
 * if (!admission.allowed) throw new AuthenticationError(`rate limited (${admission.reason})`);
 * // ... run OPAQUE ...
 * admission.settle(ok);
 */
export class LoginLimiter implements LoginGate {
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

  /**
   * Whether an attempt for `user` from `source` may proceed now. Changes no counter; to
   * let an attempt in, use {@link admit}, which checks and counts at once.
   */
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

  /**
   * Checks an attempt and, when it is allowed, counts it as a failure in the same
   * synchronous step, so that no other attempt can pass the check in between. Settle the
   * returned ticket with the outcome: a success refunds the count.
   * @returns the verdict; when allowed, with `settle(succeeded)`
   */
  admit(user: string, source: string): LoginAdmission {
    const verdict = this.check(user, source);
    if (!verdict.allowed) return verdict;
    this.recordFailure(user, source);
    let settled = false;
    return {
      allowed: true,
      settle: (succeeded: boolean) => {
        if (settled) return;
        settled = true;
        if (succeeded) this.#refund(user, source);
      },
    };
  }

  #refund(user: string, source: string): void {
    this.#users.delete(user);
    const key = sourceKey(source, this.#prefixBits);
    const c = this.#sources.get(key);
    if (!c) return;
    c.failures = Math.max(0, c.failures - 1);
    // Within the allowance again: any back-off came from this attempt's provisional count.
    if (c.failures <= this.#source.freeFailures) c.blockedUntil = 0;
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
