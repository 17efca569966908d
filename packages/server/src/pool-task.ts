/**
 * The description of one connection handed to a pool worker: plain, structured-clone
 * data only (functions and sockets cannot cross threads).
 */
import type { MessagePort } from 'node:worker_threads';
import type { BudgetLimits, ConnectionOptions } from '@keyway/core';
import type { ServerLimits } from './limits.js';

/**
 * Where a worker finds the authenticator: a module it imports and an export it calls
 * with `options`, returning an `Authenticator` (or a promise of one).
 */
export interface AuthenticatorModule {
  /** Module path or `file:` URL, of built JavaScript. */
  readonly module: string;
  /** The factory's export name; default `default`. */
  readonly export?: string;
  /** Passed to the factory; structured-clone data only. */
  readonly options?: unknown;
}

/** Everything a worker needs to serve one connection. */
export interface PoolTask {
  readonly port: MessagePort;
  readonly remoteAddress: string;
  readonly remotePort: number | undefined;
  readonly serviceModule: string;
  readonly serviceExport: string;
  readonly serviceName: string | undefined;
  readonly authenticator: AuthenticatorModule;
  readonly limits: Required<ServerLimits>;
  readonly connection: ConnectionOptions | undefined;
  /** The sizes of this worker's budget (the server's totals divided among workers). */
  readonly budget: Readonly<BudgetLimits>;
  /** Bytes the worker takes before it acknowledges them (at most half the relay window). */
  readonly ackBytes: number;
  /** The main thread's password back-off, shared by all workers (see login-gate.ts). */
  readonly loginGate: MessagePort;
  /** Whether to send the authenticators' log events to the main thread. */
  readonly log: boolean;
}

/** What a worker reports when a connection ends. */
export interface PoolTaskResult {
  readonly authenticated: boolean;
  readonly error?: string | undefined;
}
