/**
 * The server's admission limits (DESIGN.md §5): how many connections in all, how many
 * still authenticating per source address, and how long authentication may take. Each
 * has a default here and an option on the server.
 */

/** Limits every keyway server applies. */
export interface ServerLimits {
  /** Connections open at once; more are refused at accept. Default 10,000. */
  maxConnections?: number;
  /** Connections still authenticating from one source address. Default 16. */
  maxUnauthenticatedPerSource?: number;
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

/** The defaults of {@link ServerLimits}. */
export const DEFAULT_SERVER_LIMITS: Readonly<Required<ServerLimits>> = Object.freeze({
  maxConnections: 10_000,
  maxUnauthenticatedPerSource: 16,
  handshakeTimeoutMs: 10_000,
  idleTimeoutMs: 0,
  closeGraceMs: 5_000,
  maxBufferedBytes: 128 * 1024 * 1024,
});

/** Merges options over the defaults, checking each value. */
export function resolveLimits(options: ServerLimits): Required<ServerLimits> {
  const limits = { ...DEFAULT_SERVER_LIMITS };
  for (const key of Object.keys(DEFAULT_SERVER_LIMITS) as (keyof ServerLimits)[]) {
    const value = options[key];
    if (value === undefined) continue;
    // 0 means "off" for the idle timeout and "no grace" for close; the others must be > 0.
    const least = key === 'idleTimeoutMs' || key === 'closeGraceMs' ? 0 : 1;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < least) {
      throw new RangeError(`${key} must be an integer >= ${least}, got ${String(value)}`);
    }
    limits[key] = value;
  }
  return limits;
}

/** Counts connections per source address that have not finished authenticating. */
export class SourceCounter {
  readonly #counts = new Map<string, number>();
  readonly #max: number;

  constructor(max: number) {
    this.#max = max;
  }

  /** Takes a slot for `source`; false when it already holds the maximum. */
  acquire(source: string): boolean {
    const n = this.#counts.get(source) ?? 0;
    if (n >= this.#max) return false;
    this.#counts.set(source, n + 1);
    return true;
  }

  /** Gives back a slot taken by {@link acquire}. */
  release(source: string): void {
    const n = this.#counts.get(source) ?? 0;
    if (n <= 1) this.#counts.delete(source);
    else this.#counts.set(source, n - 1);
  }
}
