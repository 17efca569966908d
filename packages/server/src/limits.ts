/**
 * The server's admission limits (docs/security.md "Admission"): how many connections in
 * all, how many still authenticating (per source network and in all, with sshd's
 * `MaxStartups` random early drop), how many slots only authenticated connections may
 * hold, and how long authentication may take. Each has a default here and an option on
 * the server.
 */
import { sourceKey } from '@keyway/secure';

/**
 * sshd's `MaxStartups start:rate:full` over all connections still authenticating: below
 * `start` every new connection is admitted; from `start` on a new one is refused with
 * probability `rate`% rising linearly to 100% at `full`; at `full` every one is refused.
 */
export interface MaxStartups {
  /** Unauthenticated connections admitted without any random drop. Default 10. */
  readonly start: number;
  /** Drop probability, in percent (1..100), once `start` are authenticating. Default 30. */
  readonly rate: number;
  /** Unauthenticated connections at which every new one is refused. Default 100. */
  readonly full: number;
}

/** Limits every keyway server applies. */
export interface ServerLimits {
  /** Connections open at once; more are refused at accept. Default 10,000. */
  maxConnections?: number;
  /**
   * Slots of `maxConnections` that connections still authenticating may never take, so
   * that a flood of strangers cannot crowd out the authenticated. Default a tenth of
   * `maxConnections`, rounded down; at least one slot always stays open to a newcomer.
   */
  reservedForAuthenticated?: number;
  /**
   * Connections still authenticating from one source: one IPv4 address, or one IPv6 /64
   * (a host usually owns a whole /64; IPv4-mapped IPv6 counts as IPv4). Default 16.
   */
  maxUnauthenticatedPerSource?: number;
  /** Random early drop of unauthenticated connections; default `{ start: 10, rate: 30, full: 100 }`. */
  maxStartups?: MaxStartups;
  /** Time from accept to the end of authentication, in ms. Default 10 s. */
  handshakeTimeoutMs?: number;
  /** Close a connection with no RPC traffic for this long, in ms. 0 (default) never. */
  idleTimeoutMs?: number;
  /** How long `close()` lets in-flight calls finish before closing, in ms. Default 5 s. */
  closeGraceMs?: number;
  /**
   * Bytes allowed to wait for a client that does not read (ThreadPoolServer's main thread;
   * the secure channel applies its own `maxBufferedBytes`). Default 128 MiB.
   */
  maxBufferedBytes?: number;
}

/** sshd's default `MaxStartups 10:30:100`. */
export const DEFAULT_MAX_STARTUPS: Readonly<MaxStartups> = Object.freeze({
  start: 10,
  rate: 30,
  full: 100,
});

/** The defaults of {@link ServerLimits} (`reservedForAuthenticated` is for 10,000 connections). */
export const DEFAULT_SERVER_LIMITS: Readonly<Required<ServerLimits>> = Object.freeze({
  maxConnections: 10_000,
  reservedForAuthenticated: 1_000,
  maxUnauthenticatedPerSource: 16,
  maxStartups: DEFAULT_MAX_STARTUPS,
  handshakeTimeoutMs: 10_000,
  idleTimeoutMs: 0,
  closeGraceMs: 5_000,
  maxBufferedBytes: 128 * 1024 * 1024,
});

/** Merges options over the defaults, checking each value. */
export function resolveLimits(options: ServerLimits): Required<ServerLimits> {
  const limits = { ...DEFAULT_SERVER_LIMITS };
  for (const key of Object.keys(DEFAULT_SERVER_LIMITS) as (keyof ServerLimits)[]) {
    if (key === 'maxStartups' || key === 'reservedForAuthenticated') continue;
    const value = options[key];
    if (value === undefined) continue;
    // 0 means "off" for the idle timeout and "no grace" for close; the others must be > 0.
    const least = key === 'idleTimeoutMs' || key === 'closeGraceMs' ? 0 : 1;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < least) {
      throw new RangeError(`${key} must be an integer >= ${least}, got ${String(value)}`);
    }
    limits[key] = value;
  }
  const reserved = options.reservedForAuthenticated ?? Math.floor(limits.maxConnections / 10);
  if (!Number.isInteger(reserved) || reserved < 0 || reserved >= limits.maxConnections) {
    throw new RangeError(
      `reservedForAuthenticated must be an integer in 0..maxConnections-1, got ${String(reserved)}`,
    );
  }
  limits.reservedForAuthenticated = reserved;
  limits.maxStartups = resolveMaxStartups(options.maxStartups);
  return limits;
}

function resolveMaxStartups(value: MaxStartups | undefined): MaxStartups {
  if (value === undefined) return DEFAULT_MAX_STARTUPS;
  if (typeof value !== 'object' || value === null) {
    throw new TypeError('maxStartups must be an object { start, rate, full }');
  }
  const { start, rate, full } = value;
  const whole = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n);
  if (!whole(start) || !whole(full) || start < 1 || start > full) {
    throw new RangeError(
      `maxStartups needs integers 1 <= start <= full, got ${String(start)}:${String(full)}`,
    );
  }
  if (!whole(rate) || rate < 1 || rate > 100) {
    throw new RangeError(`maxStartups.rate must be an integer 1..100, got ${String(rate)}`);
  }
  return Object.freeze({ start, rate, full });
}

/**
 * sshd's `should_drop_connection`: whether to refuse a new connection when `startups`
 * connections are already authenticating.
 * @param random returns numbers in [0, 1) (`Math.random` outside tests); called only when
 *   the answer is left to chance
 */
export function shouldDropStartup(
  startups: number,
  { start, rate, full }: MaxStartups,
  random: () => number,
): boolean {
  if (startups < start) return false;
  if (startups >= full || rate === 100) return true;
  // The drop probability in percent, rising linearly from `rate` at `start` to 100 at `full`.
  const p = rate + ((100 - rate) * (startups - start)) / (full - start);
  return random() * 100 < p;
}

/**
 * Counts connections per source network that have not finished authenticating. Sources
 * are grouped as the login limiter groups them: IPv6 by /64, IPv4-mapped IPv6 as IPv4.
 */
export class SourceCounter {
  readonly #counts = new Map<string, number>();
  readonly #max: number;

  constructor(max: number) {
    this.#max = max;
  }

  /** Takes a slot for `source`; false when its network already holds the maximum. */
  acquire(source: string): boolean {
    const key = sourceKey(source);
    const n = this.#counts.get(key) ?? 0;
    if (n >= this.#max) return false;
    this.#counts.set(key, n + 1);
    return true;
  }

  /** Gives back a slot taken by {@link acquire}. */
  release(source: string): void {
    const key = sourceKey(source);
    const n = this.#counts.get(key) ?? 0;
    if (n <= 1) this.#counts.delete(key);
    else this.#counts.set(key, n - 1);
  }
}
