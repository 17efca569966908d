/**
 * One password back-off for a whole ThreadPoolServer (docs/security.md, "Password
 * login"). The limiter lives in the main thread; each connection's worker asks it over a
 * MessagePort of its own, beside the port that relays the socket's bytes. A worker asks
 * to admit an attempt and later settles it; the main thread counts it against the address
 * it accepted the socket from, so a worker cannot misstate the source. Were each worker
 * to keep its own limiter, the budget per user would be multiplied by the thread count.
 *
 * ProcessPoolServer relays the same messages over its worker processes' IPC channel,
 * between a MessageChannel in each process (see process-pool-server.ts).
 *
 * Messages: worker → main `{ t: 'admit', id, user }` and `{ t: 'settle', id, succeeded }`;
 * main → worker `{ t: 'verdict', id, allowed, reason?, retryAfterMs? }`.
 */
import type { MessagePort } from 'node:worker_threads';
import type { LoginAdmission, LoginGate, LoginLimiter, LoginTicket } from '@keyway/secure';

/** What a worker asks the main thread's limiter. */
export type GateRequest =
  | { readonly t: 'admit'; readonly id: number; readonly user: string }
  | { readonly t: 'settle'; readonly id: number; readonly succeeded: boolean };

/** The main thread's answer to `admit`. */
export interface GateVerdict {
  readonly t: 'verdict';
  readonly id: number;
  readonly allowed: boolean;
  readonly reason?: 'user' | 'source';
  readonly retryAfterMs?: number;
}

/** A user name longer than this cannot come from a valid LoginStart (255 UTF-8 bytes). */
const MAX_USER_CHARS = 255;

/**
 * Main thread: answers one connection's requests on `port` with `limiter`, counting them
 * against `remoteAddress`. Attempts still unsettled when the port closes stay counted as
 * failures.
 */
export function serveLoginGate(
  port: MessagePort,
  limiter: LoginLimiter,
  remoteAddress: string,
): void {
  const tickets = new Map<number, LoginTicket>();
  port.on('message', (request: GateRequest) => {
    if (typeof request !== 'object' || request === null || !Number.isSafeInteger(request.id)) {
      return;
    }
    if (request.t === 'admit') {
      // A worker only forwards names it decoded; anything else is refused, never thrown.
      const user = typeof request.user === 'string' ? request.user : '';
      const admission =
        user.length > 0 && user.length <= MAX_USER_CHARS
          ? limiter.admit(user, remoteAddress)
          : ({ allowed: false, reason: 'user', retryAfterMs: 0 } as const);
      if (admission.allowed) tickets.set(request.id, admission);
      port.postMessage({
        t: 'verdict',
        id: request.id,
        allowed: admission.allowed,
        ...(!admission.allowed && {
          reason: admission.reason,
          retryAfterMs: admission.retryAfterMs,
        }),
      } satisfies GateVerdict);
    } else if (request.t === 'settle') {
      tickets.get(request.id)?.settle(request.succeeded === true);
      tickets.delete(request.id);
    }
  });
  port.on('close', () => tickets.clear());
}

/**
 * Worker: a {@link LoginGate} that asks the main thread over `port`. When the port
 * closes, pending and later attempts are refused.
 */
export class PortLoginGate implements LoginGate {
  readonly #port: MessagePort;
  readonly #pending = new Map<number, (admission: LoginAdmission) => void>();
  #next = 0;
  #closed = false;

  constructor(port: MessagePort) {
    this.#port = port;
    port.on('message', (verdict: GateVerdict) => {
      const resolve = this.#pending.get(verdict.id);
      if (!resolve) return;
      this.#pending.delete(verdict.id);
      resolve(this.#admission(verdict));
    });
    port.on('close', () => {
      this.#closed = true;
      for (const resolve of this.#pending.values()) resolve(PortLoginGate.#refused());
      this.#pending.clear();
    });
  }

  static #refused(): LoginAdmission {
    return { allowed: false, reason: 'source', retryAfterMs: 0 };
  }

  #admission(verdict: GateVerdict): LoginAdmission {
    if (!verdict.allowed) {
      return {
        allowed: false,
        reason: verdict.reason ?? 'user',
        retryAfterMs: verdict.retryAfterMs ?? 0,
      };
    }
    let settled = false;
    return {
      allowed: true,
      settle: (succeeded: boolean) => {
        if (settled || this.#closed) return;
        settled = true;
        this.#port.postMessage({ t: 'settle', id: verdict.id, succeeded } satisfies GateRequest);
      },
    };
  }

  /** Asks the main thread; the source is the one the main thread accepted. */
  admit(user: string, _source: string): Promise<LoginAdmission> {
    if (this.#closed) return Promise.resolve(PortLoginGate.#refused());
    const id = this.#next++;
    return new Promise((resolve) => {
      this.#pending.set(id, resolve);
      this.#port.postMessage({ t: 'admit', id, user } satisfies GateRequest);
    });
  }

  /** Closes the port (the connection is over). */
  close(): void {
    this.#port.close();
  }
}
