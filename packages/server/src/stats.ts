/**
 * What a server reports about its connections: the RPC tables of every open connection
 * summed, and how many connections are open or still authenticating — one call for a
 * health endpoint or a metrics scrape.
 */
import type { ConnectionStats } from '@keyway/core';

/** A server's `stats()`: every {@link ConnectionStats} field summed over its connections. */
export interface ServerStats extends ConnectionStats {
  /** Connections with an open RPC session. */
  open: number;
  /** Accepted connections still authenticating (no RPC session yet). */
  authenticating: number;
  /**
   * Connections whose worker did not answer in time (`ThreadPoolServer` only, when a
   * worker is busy; their numbers are missing from the sums). Always 0 elsewhere.
   */
  unreported: number;
}

/** Stats with no connection counted yet. */
export function emptyServerStats(authenticating: number): ServerStats {
  return {
    open: 0,
    authenticating,
    unreported: 0,
    exports: 0,
    imports: 0,
    questions: 0,
    answers: 0,
    serving: 0,
    requestsSent: 0,
    messagesSent: 0,
  };
}

/** Adds one open connection's stats to `total`. */
export function addConnectionStats(total: ServerStats, stats: ConnectionStats): void {
  total.open++;
  for (const key of Object.keys(stats) as (keyof ConnectionStats)[]) {
    const value = stats[key];
    // A field a newer core adds is summed too.
    if (typeof value === 'number') total[key] = (total[key] ?? 0) + value;
  }
}
