/**
 * The messages a ProcessPoolServer's primary and its worker processes exchange over the
 * IPC channel (docs/design.md §5). A connection is handed over once, as a `conn` message
 * carrying the socket itself; after that only reports about it cross: when it
 * authenticated, when it ended, its password-login questions for the primary's limiter
 * (the login-gate.ts messages, tagged with the connection's id), and stats.
 */
import type { BudgetLimits, ConnectionOptions } from '@keyway/core';
import type { ServerLimits } from './limits.js';
import type { GateRequest, GateVerdict } from './login-gate.js';
import type { AuthenticatorModule } from './pool-task.js';
import type { ServerStats } from './stats.js';

/** What every worker process serves, sent once when it starts. */
export interface WorkerConfig {
  readonly serviceModule: string;
  readonly serviceExport: string;
  readonly serviceName: string | undefined;
  readonly authenticator: AuthenticatorModule;
  readonly limits: Required<ServerLimits>;
  readonly connection: ConnectionOptions | undefined;
  /** The sizes of this worker's budget (the server's totals divided among workers). */
  readonly budget: Readonly<BudgetLimits>;
}

/** Primary → worker. */
export type ToWorker =
  | { readonly t: 'init'; readonly config: WorkerConfig }
  | {
      readonly t: 'conn';
      readonly id: number;
      readonly remoteAddress: string;
      readonly remotePort: number | undefined;
    }
  | { readonly t: 'gate'; readonly id: number; readonly verdict: GateVerdict }
  | { readonly t: 'stats'; readonly id: number }
  | { readonly t: 'close'; readonly graceMs: number };

/** Worker → primary. */
export type FromWorker =
  | { readonly t: 'ready' }
  | { readonly t: 'init-failed'; readonly error: string }
  | { readonly t: 'authenticated'; readonly id: number }
  | {
      readonly t: 'disconnect';
      readonly id: number;
      readonly authenticated: boolean;
      readonly reason?: string | undefined;
    }
  | { readonly t: 'gate'; readonly id: number; readonly request: GateRequest }
  | { readonly t: 'stats-reply'; readonly id: number; readonly stats: ServerStats };
