/**
 * `OneShotServer`: serves exactly one authenticated connection, then stops listening —
 * for a test rig that hands one controller one session. The slot goes to the first
 * connection that authenticates, never to whoever connects first: a stranger that
 * connects and leaves, or fails authentication, does not end the server.
 */
import { type ServiceSpec, TimeoutError } from '@keyway/core';
import { AuthenticationError, type Authenticator, type AuthStream } from '@keyway/secure';
import type { Admission, BoundAddress } from './listener.js';
import { ThreadedServer, type ThreadedServerOptions } from './threaded-server.js';

/** Options of {@link OneShotServer}. */
export interface OneShotServerOptions extends ThreadedServerOptions {
  /**
   * How long to wait, from `listen()`, for a connection that authenticates; then the
   * server closes and `done` rejects with `TimeoutError`. Default 5 minutes.
   */
  acceptTimeoutMs?: number;
}

/** Five minutes for the one client to arrive and authenticate. */
export const DEFAULT_ACCEPT_TIMEOUT_MS = 5 * 60 * 1000;

/** Which stream won the slot; shared with the authenticator wrapper built before `super()`. */
interface Slot {
  winner: AuthStream | undefined;
  onTaken: () => void;
}

/**
 * Serves the first connection that authenticates, stops listening at once, and closes
 * itself when that connection ends; `done` resolves then. Connections that fail to
 * authenticate are refused as on any server, and the server keeps waiting. Connections
 * still authenticating when the slot is taken are refused (`AuthenticationError`: the
 * peer sees an ordinary authentication failure).
 * @example
 * const server = new OneShotServer(Rig, { authenticator, acceptTimeoutMs: 60_000 });
 * await server.listen(); await server.done;
 */
export class OneShotServer extends ThreadedServer {
  readonly #slot: Slot;
  readonly #acceptTimeoutMs: number;
  #timer: NodeJS.Timeout | undefined;
  #settled = false;
  #resolveDone!: () => void;
  #rejectDone!: (error: Error) => void;
  /**
   * Resolves once the one connection has ended and the server is closed (or `close()`
   * was called first); rejects with `TimeoutError` when no connection authenticated
   * within `acceptTimeoutMs`.
   */
  readonly done: Promise<void> = new Promise((resolve, reject) => {
    this.#resolveDone = resolve;
    this.#rejectDone = reject;
  });

  /**
   * @param service a Service class or instance
   * @param options as {@link ThreadedServer}'s, plus `acceptTimeoutMs`
   * @throws {RangeError} when `acceptTimeoutMs` is not a positive integer
   */
  constructor(service: ServiceSpec, options: OneShotServerOptions) {
    const slot: Slot = { winner: undefined, onTaken: () => {} };
    const inner = options?.authenticator;
    const oneShot: Authenticator = async (stream, context) => {
      const result = await inner(stream, context);
      // Decided before the verdict is sent, so a latecomer hears FAIL, not OK then a close.
      if (slot.winner !== undefined) {
        throw new AuthenticationError('the one-shot server already serves a connection');
      }
      slot.winner = stream;
      slot.onTaken();
      return result;
    };
    super(service, {
      ...options,
      authenticator: typeof inner === 'function' ? oneShot : inner,
    });
    const timeout = options.acceptTimeoutMs ?? DEFAULT_ACCEPT_TIMEOUT_MS;
    if (!Number.isInteger(timeout) || timeout < 1) {
      throw new RangeError(`acceptTimeoutMs must be a positive integer, got ${String(timeout)}`);
    }
    this.#acceptTimeoutMs = timeout;
    this.#slot = slot;
    slot.onTaken = () => {
      clearTimeout(this.#timer);
      void this.stopListening(false);
    };
    // A caller that never looks at `done` must not see an unhandled rejection.
    this.done.catch(() => {});
  }

  /** Starts listening and the wait for the one authenticated connection. */
  override async listen(): Promise<BoundAddress> {
    const address = await super.listen();
    this.#timer = setTimeout(() => {
      if (this.#slot.winner !== undefined) return;
      this.#settle(
        new TimeoutError(`no connection authenticated within ${this.#acceptTimeoutMs} ms`),
      );
    }, this.#acceptTimeoutMs);
    return address;
  }

  protected override admit(admission: Admission): void {
    admission.socket.once('close', () => {
      if (this.#slot.winner === admission.socket) this.#settle();
    });
    super.admit(admission);
  }

  override async close(graceMs?: number): Promise<void> {
    clearTimeout(this.#timer);
    await super.close(graceMs);
    if (!this.#settled) {
      this.#settled = true;
      this.#resolveDone();
    }
  }

  /** Closes the server, then settles `done` (rejected when `error` is given). */
  #settle(error?: Error): void {
    if (this.#settled) return;
    this.#settled = true;
    void this.close().then(() => (error ? this.#rejectDone(error) : this.#resolveDone()));
  }
}
