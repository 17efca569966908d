/**
 * Housekeeping of one session (docs/protocol.md §3, §7): the
 * finishes (replies we received, so the peer may forget those answers) and the releases
 * (references to the peer's objects we dropped, as id/count pairs) not yet told to the
 * peer. They ride on our next request; a lone batch waits a little for one, then leaves
 * as its own HOUSEKEEPING message.
 */
import { MSG_HOUSEKEEPING } from './message-kinds.js';
import type { Session, SessionIO } from './session.js';

// What an empty field of a REQUEST carries: one shared array, never written.
const NONE: readonly number[] = Object.freeze([]);

/** Queued finishes that force a flush on the next turn instead of waiting to piggyback. */
const URGENT_HOUSEKEEPING = 128;

/** The finishes and releases a session owes its peer. */
export class Housekeeping {
  readonly #session: Session;
  readonly #io: SessionIO;
  // Made when something is queued, dropped when it leaves: an idle session holds neither.
  #finishes: number[] | undefined;
  #releases: number[] | undefined;
  #flushScheduled = false;

  constructor(session: Session, io: SessionIO) {
    this.#session = session;
    this.#io = io;
  }

  /** Queues the finish of our request `qid`, whose reply arrived. */
  finish(qid: number): void {
    this.#finishes ??= [];
    this.#finishes.push(qid);
    this.#schedule();
  }

  /** Queues the release of `count` references to the peer's object `id`. */
  release(id: number, count: number): void {
    if (this.#session.closed) return;
    this.#releases ??= [];
    this.#releases.push(id, count);
    this.#schedule();
  }

  /** Whether finishes or releases wait to ride on the next REQUEST. */
  get queued(): boolean {
    return (this.#finishes?.length ?? 0) > 0 || (this.#releases?.length ?? 0) > 0;
  }

  /** The queued finishes, for an outgoing REQUEST (its ninth field); the queue is emptied. */
  takeFinishes(): readonly number[] {
    const finishes = this.#finishes;
    if (finishes === undefined || finishes.length === 0) return NONE;
    this.#finishes = undefined;
    return finishes;
  }

  /** The queued releases, for an outgoing REQUEST (its tenth field); the queue is emptied. */
  takeReleases(): readonly number[] {
    const releases = this.#releases;
    if (releases === undefined || releases.length === 0) return NONE;
    this.#releases = undefined;
    return releases;
  }

  /** The REQUEST `message` could not be sent: what rode on it waits for the next message. */
  stepOff(message: unknown[]): void {
    if (message.length > 8) {
      this.#finishes ??= [];
      this.#releases ??= [];
      this.#finishes.push(...(message[8] as number[]));
      this.#releases.push(...(message[9] as number[]));
      this.#schedule();
    }
  }

  #schedule(): void {
    // Finishes and releases ride on the next request; a lone one waits a little for one.
    const urgent =
      (this.#finishes?.length ?? 0) + (this.#releases?.length ?? 0) >= URGENT_HOUSEKEEPING;
    if (this.#flushScheduled && !urgent) return;
    this.#flushScheduled = true;
    this.#io.scheduleFlush(urgent);
  }

  /** Sends queued finishes and releases that no request carried. */
  flush(): void {
    this.#flushScheduled = false;
    const finishes = this.#finishes;
    const releases = this.#releases;
    if (this.#session.closed || (finishes === undefined && releases === undefined)) return;
    const message = [MSG_HOUSEKEEPING, finishes ?? NONE, releases ?? NONE];
    this.#finishes = undefined;
    this.#releases = undefined;
    try {
      this.#session.send(message);
    } catch {
      // Closing; the peer drops its tables anyway.
    }
  }
}
