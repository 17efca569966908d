/**
 * Liveness of one session (docs/protocol.md §8): `ping()` with a deadline, and the
 * keepalive that probes a quiet peer and closes the connection when the peer stays
 * silent. Sans-IO like the session it belongs to: it reads the driver's clock and asks
 * for the driver's one deadline timer; it owns no timer. Any message received counts as
 * a sign of life, so a connection with traffic sends no probe at all.
 */
import { TimeoutError } from './errors.js';
import { MSG_PING, MSG_PONG } from './message-kinds.js';

/** Keepalive settings, resolved: both in milliseconds, `timeoutMs > intervalMs`. */
export interface KeepaliveSettings {
  /** Silence after which a PING is sent. */
  readonly intervalMs: number;
  /** Silence after which the connection closes with `TimeoutError`. */
  readonly timeoutMs: number;
}

/** What liveness needs from its session. */
export interface LivenessHost {
  /** Encodes and sends one message. */
  send(message: unknown[]): void;
  /** Closes the session because of `error`. */
  fail(error: Error): void;
}

/** What liveness needs from its driver: the clock and the one deadline timer. */
export interface LivenessClock {
  now(): number;
  armTimer(deadline: number): void;
}

interface PendingPing {
  readonly started: number;
  /** `+Infinity` when the ping has no deadline. */
  readonly deadline: number;
  readonly timeout: number;
  resolve(ms: number): void;
  reject(error: Error): void;
}

// Keepalive probes carry id 0: no ping() waits for them, their PONG only counts as life.
const PROBE_ID = 0;

/** Pings in flight and the keepalive watch of one session. */
export class Liveness {
  readonly #host: LivenessHost;
  readonly #clock: LivenessClock;
  readonly #keepalive: KeepaliveSettings | undefined;
  // Made on the first ping: most connections never ping by hand.
  #pings: Map<number, PendingPing> | undefined;
  #nextPing = 1;
  #watching = false;
  #lastHeard = 0;
  /** The `#lastHeard` a probe was sent for: one probe per silence. */
  #probedFor = Number.NaN;

  constructor(host: LivenessHost, clock: LivenessClock, keepalive: KeepaliveSettings | undefined) {
    this.#host = host;
    this.#clock = clock;
    this.#keepalive = keepalive;
  }

  /** Starts the keepalive watch (when configured), counting silence from now. */
  start(): void {
    const keepalive = this.#keepalive;
    if (keepalive === undefined || this.#watching) return;
    this.#watching = true;
    this.#lastHeard = this.#clock.now();
    this.#clock.armTimer(this.#lastHeard + keepalive.intervalMs);
  }

  /** A message arrived: the peer is alive. */
  heard(): void {
    if (this.#watching) this.#lastHeard = this.#clock.now();
  }

  /**
   * Sends a PING and resolves with the round-trip time when its PONG arrives.
   * @param timeout Milliseconds to wait; 0 waits for ever.
   */
  ping(timeout: number): Promise<number> {
    const id = this.#nextPing++;
    const started = this.#clock.now();
    const deadline = timeout > 0 ? started + timeout : Number.POSITIVE_INFINITY;
    return new Promise<number>((resolve, reject) => {
      this.#pings ??= new Map();
      this.#pings.set(id, { started, deadline, timeout, resolve, reject });
      try {
        this.#host.send([MSG_PING, id]);
      } catch (error) {
        this.#pings?.delete(id);
        reject(error);
        return;
      }
      if (deadline !== Number.POSITIVE_INFINITY) this.#clock.armTimer(deadline);
    });
  }

  /** A PONG for `id` arrived. */
  pong(id: unknown): void {
    if (typeof id !== 'number') return;
    const waiter = this.#pings?.get(id);
    if (waiter === undefined) return;
    this.#pings?.delete(id);
    waiter.resolve(this.#clock.now() - waiter.started);
  }

  /** Rejects the pings past their deadline, probes or closes a silent peer, re-arms. */
  expire(now: number): void {
    let next = Number.POSITIVE_INFINITY;
    for (const [id, ping] of this.#pings ?? []) {
      if (ping.deadline <= now) {
        this.#pings?.delete(id);
        ping.reject(new TimeoutError(`no answer to the ping within ${ping.timeout} ms`));
      } else if (ping.deadline < next) next = ping.deadline;
    }
    const keepalive = this.#keepalive;
    if (this.#watching && keepalive !== undefined) {
      const quiet = now - this.#lastHeard;
      if (quiet >= keepalive.timeoutMs) {
        this.#watching = false;
        this.#host.fail(
          new TimeoutError(
            `the peer sent nothing for ${Math.round(quiet)} ms (keepalive timeout ${keepalive.timeoutMs} ms)`,
          ),
        );
        return;
      }
      if (quiet >= keepalive.intervalMs && this.#probedFor !== this.#lastHeard) {
        this.#probedFor = this.#lastHeard;
        try {
          this.#host.send([MSG_PING, PROBE_ID]);
        } catch {
          // The transport is closing; its close settles the connection.
        }
      }
      const wait = this.#probedFor === this.#lastHeard ? keepalive.timeoutMs : keepalive.intervalMs;
      next = Math.min(next, this.#lastHeard + wait);
    }
    if (next !== Number.POSITIVE_INFINITY) this.#clock.armTimer(next);
  }

  /** The session closed: every ping in flight rejects with `error`; the watch stops. */
  close(error: Error): void {
    this.#watching = false;
    const pings = [...(this.#pings?.values() ?? [])];
    this.#pings?.clear();
    for (const ping of pings) ping.reject(error);
  }
}

// msgpack of a two-element array (fixarray 0x92) whose first element is a small int.
const FIXARRAY_2 = 0x92;

/**
 * Whether a transport message is a PING or PONG — liveness traffic, which an idle timer
 * should not count as use of the connection.
 * @param data One whole message as the transport delivers or sends it.
 */
export function isLivenessMessage(data: Uint8Array): boolean {
  return (
    data.length >= 3 && data[0] === FIXARRAY_2 && (data[1] === MSG_PING || data[1] === MSG_PONG)
  );
}
