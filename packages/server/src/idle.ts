/**
 * Idle timeout for authenticated connections, at one timer per server rather than one
 * per connection or per message: each message marks its connection active, and a sweep
 * every half-period closes the connections that stayed quiet for two sweeps in a row.
 * Keepalive PINGs and PONGs are not use of the connection: they keep a live peer from
 * being taken for dead, not an idle one from being closed.
 */
import { isLivenessMessage, TimeoutError, type Transport } from '@keyway/core';

interface Tracked {
  active: boolean;
  quietSweeps: number;
  readonly transport: Transport;
}

/** Closes connections with no traffic in either direction for `idleTimeoutMs`. */
export class IdleSweeper {
  readonly #timeoutMs: number;
  readonly #tracked = new Set<Tracked>();
  #timer: NodeJS.Timeout | undefined;

  /** @param idleTimeoutMs 0 disables the sweeper. */
  constructor(idleTimeoutMs: number) {
    this.#timeoutMs = idleTimeoutMs;
  }

  /** Returns `transport` watched for traffic (or unchanged when disabled). */
  track(transport: Transport): Transport {
    if (this.#timeoutMs === 0) return transport;
    const entry: Tracked = { active: true, quietSweeps: 0, transport };
    this.#tracked.add(entry);
    this.#start();
    return {
      remoteAddress: transport.remoteAddress,
      send: (data) => {
        if (!isLivenessMessage(data)) entry.active = true;
        transport.send(data);
      },
      sendParts: (pieces) => {
        entry.active = true;
        if (transport.sendParts !== undefined) transport.sendParts(pieces);
        else transport.send(joinPieces(pieces));
      },
      close: (error) => transport.close(error),
      start: (receiver) =>
        transport.start({
          onMessage: (data) => {
            if (!isLivenessMessage(data)) entry.active = true;
            receiver.onMessage(data);
          },
          onMessageParts: (head, parts) => {
            entry.active = true;
            if (receiver.onMessageParts !== undefined) receiver.onMessageParts(head, parts);
            else receiver.onMessage(joinPieces([head, ...parts]));
          },
          onClose: (error) => {
            this.#tracked.delete(entry);
            receiver.onClose(error);
          },
        }),
    };
  }

  /** Stops sweeping. */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => this.#sweep(), Math.max(1, Math.floor(this.#timeoutMs / 2)));
    this.#timer.unref();
  }

  #sweep(): void {
    for (const entry of this.#tracked) {
      if (entry.active) {
        entry.active = false;
        entry.quietSweeps = 0;
      } else if (++entry.quietSweeps >= 2) {
        this.#tracked.delete(entry);
        entry.transport.close(new TimeoutError(`connection idle for ${this.#timeoutMs} ms`));
      }
    }
  }
}

/**
 * Lets in-flight calls finish for up to `graceMs`, then closes every connection; calls
 * still pending reject with `ConnectionClosedError` on both sides.
 */
export async function drainAndClose(
  connections: Iterable<{ drain(): Promise<void>; close(): Promise<void> }>,
  graceMs: number,
): Promise<void> {
  const all = [...connections];
  let timer: NodeJS.Timeout | undefined;
  const grace = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, graceMs);
  });
  await Promise.race([Promise.all(all.map((c) => c.drain())), grace]);
  clearTimeout(timer);
  await Promise.all(all.map((c) => c.close()));
}

function joinPieces(pieces: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const piece of pieces) total += piece.byteLength;
  const out = new Uint8Array(total);
  let at = 0;
  for (const piece of pieces) {
    out.set(piece, at);
    at += piece.byteLength;
  }
  return out;
}
