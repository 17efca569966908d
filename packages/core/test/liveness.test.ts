import { describe, expect, it } from 'vitest';
import { type Connection, type ConnectionOptions, connectTransport } from '../src/connection.js';
import { ConnectionClosedError, TimeoutError } from '../src/errors.js';
import { isLivenessMessage } from '../src/liveness.js';
import { memoryTransportPair } from '../src/memory-transport.js';
import type { Remote } from '../src/remote.js';
import { Service } from '../src/service.js';
import type { Transport, TransportReceiver } from '../src/transport.js';

const PING = 6;

/**
 * A transport that can freeze: from `freeze()` on it delivers nothing more and sends
 * nothing more, as a peer whose process stopped (or whose link died silently) would.
 * It counts the PINGs sent through it.
 */
class FreezableTransport implements Transport {
  pingsSent = 0;
  #frozen = false;
  readonly #inner: Transport;

  constructor(inner: Transport) {
    this.#inner = inner;
  }

  get remoteAddress() {
    return this.#inner.remoteAddress;
  }

  freeze(): void {
    this.#frozen = true;
  }

  send(data: Uint8Array): void {
    // A PING is [6, n]: a fixarray header, then the kind as a fixint.
    if (data[1] === PING) this.pingsSent++;
    if (!this.#frozen) this.#inner.send(data);
  }

  start(receiver: TransportReceiver): void {
    this.#inner.start({
      onMessage: (data) => {
        if (!this.#frozen) receiver.onMessage(data);
      },
      onClose: (error) => receiver.onClose(error),
    });
  }

  close(error?: Error): void {
    this.#inner.close(error);
  }
}

class Api extends Service {
  add(a: number, b: number) {
    return a + b;
  }
  forever() {
    return new Promise(() => {});
  }
}

/** A server over a plain memory transport and a client over a freezable one. */
async function pair(
  clientOptions: ConnectionOptions,
  serverOptions: ConnectionOptions = {},
): Promise<{ server: Connection; client: Connection; wire: FreezableTransport }> {
  const [a, b] = memoryTransportPair();
  const wire = new FreezableTransport(b);
  const [server, client] = await Promise.all([
    connectTransport(a, { service: Api, ...serverOptions }),
    connectTransport(wire, clientOptions),
  ]);
  return { server, client, wire };
}

/** Rejects if `promise` has not settled within `ms` (so that a hang fails, not times out). */
function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still pending after ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('ping', () => {
  it('a ping pending when the connection closes rejects with ConnectionClosedError', async () => {
    const { client, wire } = await pair({});
    wire.freeze();
    const pending = client.ping({ timeout: 0 });
    await client.close();
    await expect(within(pending, 2_000)).rejects.toBeInstanceOf(ConnectionClosedError);
  });

  it('a ping to a frozen peer rejects with TimeoutError at its deadline', async () => {
    const { client, wire } = await pair({});
    expect(await client.ping({ timeout: 1_000 })).toBeGreaterThanOrEqual(0);
    wire.freeze();
    const started = performance.now();
    await expect(within(client.ping({ timeout: 100 }), 5_000)).rejects.toBeInstanceOf(TimeoutError);
    expect(performance.now() - started).toBeGreaterThanOrEqual(90);
    // A ping that timed out leaves the connection open.
    expect(client.isClosed).toBe(false);
    await client.close();
  });

  it('ping() defaults to the connection call timeout', async () => {
    const { client, wire } = await pair({ timeout: 80 });
    wire.freeze();
    await expect(within(client.ping(), 5_000)).rejects.toBeInstanceOf(TimeoutError);
    await client.close();
  });

  it('ping() checks its timeout option', async () => {
    const { client } = await pair({});
    expect(() => client.ping({ timeout: -1 })).toThrow(RangeError);
    await client.close();
  });
});

describe('keepalive', () => {
  it('closes the connection to a frozen peer with TimeoutError; pending calls carry it as cause', async () => {
    const { client, wire } = await pair({ keepalive: { intervalMs: 40, timeoutMs: 120 } });
    const api = client.root as Remote<Api>;
    expect(await api.add(1, 2)).toBe(3);
    const pending = Promise.resolve(api.forever()).catch((e: unknown) => e);
    wire.freeze();
    const started = performance.now();
    const reason = await within(client.closed, 5_000);
    expect(reason).toBeInstanceOf(TimeoutError);
    expect(performance.now() - started).toBeGreaterThanOrEqual(100);
    const failure = await within(pending, 1_000);
    expect(failure).toBeInstanceOf(ConnectionClosedError);
    expect((failure as Error).cause).toBe(reason);
    // One probe went out before giving up.
    expect(wire.pingsSent).toBeGreaterThanOrEqual(1);
  });

  it('an idle but live connection stays open, kept alive by probes', async () => {
    const { client, server, wire } = await pair({ keepalive: { intervalMs: 30, timeoutMs: 90 } });
    await sleep(600);
    expect(client.isClosed).toBe(false);
    expect(server.isClosed).toBe(false);
    expect(wire.pingsSent).toBeGreaterThanOrEqual(3);
    expect(await (client.root as Remote<Api>).add(2, 3)).toBe(5);
    await client.close();
  });

  it('any message received counts as life: no probe while replies flow', async () => {
    const { client, wire } = await pair({ keepalive: { intervalMs: 150, timeoutMs: 10_000 } });
    const api = client.root as Remote<Api>;
    const end = performance.now() + 600;
    for (let i = 0; i < 1_000 && performance.now() < end; i++) {
      await api.add(i, 1);
      await sleep(10);
    }
    expect(wire.pingsSent).toBe(0);
    await client.close();
  });

  it('is off by default in connectTransport', async () => {
    const { client, wire } = await pair({ timeout: 0 });
    wire.freeze();
    await sleep(200);
    expect(client.isClosed).toBe(false);
    expect(wire.pingsSent).toBe(0);
    await client.close();
  });

  it('checks its options', async () => {
    const [a] = memoryTransportPair();
    await expect(connectTransport(a, { keepalive: { intervalMs: 0 } })).rejects.toThrow(RangeError);
    await expect(
      connectTransport(a, { keepalive: { intervalMs: 100, timeoutMs: 100 } }),
    ).rejects.toThrow(RangeError);
    await expect(
      connectTransport(a, { keepalive: 5 as unknown as ConnectionOptions['keepalive'] }),
    ).rejects.toThrow(TypeError);
  });

  it('probes and their answers are liveness messages; calls are not', () => {
    expect(isLivenessMessage(Uint8Array.of(0x92, 6, 0))).toBe(true);
    expect(isLivenessMessage(Uint8Array.of(0x92, 7, 0xcc, 200))).toBe(true);
    expect(isLivenessMessage(Uint8Array.of(0x93, 2, 1, 0xc0))).toBe(false);
    expect(isLivenessMessage(Uint8Array.of(0x92, 6))).toBe(false);
  });
});
