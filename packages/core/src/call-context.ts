/**
 * The context of the incoming call being served (docs/protocol.md §8): which connection
 * made it and an `AbortSignal` that fires when the caller cancels or times out.
 */
import type { Connection } from './connection.js';

/** What a method can learn about the call it is serving. */
export interface CallContext {
  /** The connection the call arrived on. */
  readonly connection: Connection;
  /** Aborted when the caller cancels the call (its `AbortSignal` or timeout). */
  readonly signal: AbortSignal;
}

/** Internal: the part of an answer the context needs. */
export interface CallContextSource {
  readonly connection: Connection;
  signal(): AbortSignal;
}

let current: CallContextSource | undefined;

/** Internal: sets the call being served for the synchronous part of a method call. */
export function enterCall(source: CallContextSource | undefined): CallContextSource | undefined {
  const previous = current;
  current = source;
  return previous;
}

/**
 * Returns the context of the incoming call being served. Call it synchronously at the
 * start of an exposed method (before the first `await`).
 * @returns The connection and cancellation signal of the current call.
 * @throws {Error} When called outside an exposed method.
 * @example
 * async slow() { const { signal } = currentCall(); await work(signal); }
 */
export function currentCall(): CallContext {
  const source = current;
  if (source === undefined) throw new Error('currentCall() used outside an incoming call');
  return {
    connection: source.connection,
    get signal() {
      return source.signal();
    },
  };
}
