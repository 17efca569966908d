/**
 * The callee's record of one request of the peer (docs/protocol.md §5,
 * §8, §9): its state, its value for calls pipelined on it, the
 * cancellation signal that `currentCall()` hands to the method serving it, and the two
 * facts that decide when it stops counting against `maxPendingCalls`: the peer finished
 * it, and its work completed.
 */
import type { CallContextSource } from './call-context.js';
import type { Connection } from './connection.js';
import { KeywayError } from './errors.js';

/** Work waiting for an answer to settle. */
export type Waiter = () => void;

/** Callee-side record of one request of the peer. */
export class Answer implements CallContextSource {
  readonly qid: number;
  readonly connection: Connection;
  /** Pipelining hops from an export: 0 for a request on an export, base + 1 otherwise. */
  readonly depth: number;
  /** 0 pending, 1 fulfilled, 2 rejected. */
  state = 0;
  value: unknown;
  cancelled = false;
  /** What this request was charged in the budget's request bytes while it is served. */
  bytes = 0;
  /** The peer finished or cancelled it: it left the answer table. */
  finished = false;
  /** Its work is over (served, failed, or skipped once cancelled): it holds nothing more. */
  completed = false;
  waiters: Waiter[] | undefined;
  #controller: AbortController | undefined;

  constructor(qid: number, connection: Connection, depth: number) {
    this.qid = qid;
    this.connection = connection;
    this.depth = depth;
  }

  signal(): AbortSignal {
    this.#controller ??= new AbortController();
    if (this.cancelled && !this.#controller.signal.aborted)
      this.#controller.abort(new KeywayError('ERR_CANCELLED', 'the caller cancelled the call'));
    return this.#controller.signal;
  }

  cancel(): void {
    this.cancelled = true;
    this.#controller?.abort(new KeywayError('ERR_CANCELLED', 'the caller cancelled the call'));
  }

  /**
   * Records the outcome. The waiters are returned, not run: the caller runs them from a
   * queue, so a long chain of pipelined calls never nests one settle inside another.
   */
  settle(state: number, value: unknown): Waiter[] | undefined {
    this.state = state;
    this.value = value;
    const waiters = this.waiters;
    this.waiters = undefined;
    return waiters;
  }

  /** The settled value as a promise for pipelined work. */
  whenSettled(): Promise<unknown> {
    if (this.state === 1) return Promise.resolve(this.value);
    if (this.state === 2) return Promise.reject(this.value);
    return new Promise((resolve, reject) => {
      this.waiters ??= [];
      this.waiters.push(() => (this.state === 1 ? resolve(this.value) : reject(this.value)));
    });
  }
}
