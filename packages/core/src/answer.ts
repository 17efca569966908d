/**
 * The callee's record of one request of the peer (DESIGN.md §3 "Promise pipelining",
 * "Time"): its state, its value for calls pipelined on it, and the cancellation signal
 * that `currentCall()` hands to the method serving it.
 */
import type { CallContextSource } from './call-context.js';
import type { Connection } from './connection.js';
import { KeywayError } from './errors.js';

/** Callee-side record of one request of the peer. */
export class Answer implements CallContextSource {
  readonly qid: number;
  readonly connection: Connection;
  /** 0 pending, 1 fulfilled, 2 rejected. */
  state = 0;
  value: unknown;
  cancelled = false;
  /** What this request was charged in the budget's request bytes while it is served. */
  bytes = 0;
  waiters: (() => void)[] | undefined;
  #controller: AbortController | undefined;

  constructor(qid: number, connection: Connection) {
    this.qid = qid;
    this.connection = connection;
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

  settle(state: number, value: unknown): void {
    this.state = state;
    this.value = value;
    const waiters = this.waiters;
    this.waiters = undefined;
    if (waiters) for (const w of waiters) w();
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
