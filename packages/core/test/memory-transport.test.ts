import { describe, expect, it } from 'vitest';
import { ConnectionClosedError, type KeywayError } from '../src/errors.js';
import { memoryTransportPair } from '../src/memory-transport.js';

function collect() {
  const messages: Uint8Array[] = [];
  let closed: { error: Error | undefined } | undefined;
  return {
    messages,
    closed: () => closed,
    receiver: {
      onMessage: (d: Uint8Array) => messages.push(d),
      onClose: (error?: Error) => {
        closed = { error };
      },
    },
  };
}

const tick = () => new Promise((r) => setTimeout(r, 0));

describe('memoryTransportPair', () => {
  it('delivers messages in order, including those sent before start()', async () => {
    const [a, b] = memoryTransportPair();
    const rb = collect();
    a.send(Uint8Array.of(1));
    await tick();
    b.start(rb.receiver);
    a.send(Uint8Array.of(2));
    a.send(Uint8Array.of(3));
    await tick();
    expect(rb.messages.map((m) => m[0])).toEqual([1, 2, 3]);
  });

  it('close() reaches both sides once and later sends throw a typed error', async () => {
    const [a, b] = memoryTransportPair();
    const ra = collect();
    const rb = collect();
    a.start(ra.receiver);
    b.start(rb.receiver);
    a.close();
    a.close();
    await tick();
    expect(ra.closed()).toEqual({ error: undefined });
    expect(rb.closed()).toEqual({ error: undefined });
    expect(() => a.send(Uint8Array.of(1))).toThrow(ConnectionClosedError);
    expect(() => b.send(Uint8Array.of(1))).toThrow(ConnectionClosedError);
  });

  it('a failure on one side reaches the other as ConnectionClosedError with the cause', async () => {
    const [a, b] = memoryTransportPair();
    const rb = collect();
    b.start(rb.receiver);
    const reason = new Error('boom');
    a.close(reason);
    await tick();
    const error = rb.closed()?.error;
    expect(error).toBeInstanceOf(ConnectionClosedError);
    expect((error as KeywayError).code).toBe('ERR_CONNECTION_CLOSED');
    expect((error as Error).cause).toBe(reason);
  });
});
