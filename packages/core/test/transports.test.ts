import { MessageChannel } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { duplexTransport } from '../src/duplex-transport.js';
import { MessageTooLargeError } from '../src/errors.js';
import { messagePortTransport } from '../src/message-port-transport.js';
import type { Transport } from '../src/transport.js';
import { tcpPair, waitFor } from './helpers.js';

function receiver() {
  const messages: Uint8Array[] = [];
  const state: { closed: boolean; error: Error | undefined } = { closed: false, error: undefined };
  return {
    messages,
    state,
    r: {
      onMessage: (d: Uint8Array) => messages.push(d),
      onClose: (e?: Error) => {
        state.closed = true;
        state.error = e;
      },
    },
  };
}

function payload(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

describe('duplexTransport over TCP', () => {
  it('delivers whole messages in order, whatever the chunking', async () => {
    const { client, server } = await tcpPair();
    const a = duplexTransport(client);
    const b = duplexTransport(server);
    const rb = receiver();
    b.start(rb.r);
    a.start(receiver().r);
    const sizes = [0, 1, 3, 4, 5, 1000, 70_000, 1, 300_000, 2];
    for (const [i, n] of sizes.entries()) a.send(payload(n, i));
    await waitFor(() => rb.messages.length === sizes.length);
    for (const [i, m] of rb.messages.entries())
      expect(Buffer.from(m).equals(payload(sizes[i]!, i))).toBe(true);
    expect(a.remoteAddress).toMatch(/^127\.0\.0\.1:\d+$/);
    a.close();
    await waitFor(() => rb.state.closed);
    expect(rb.state.error).toBeUndefined();
  });

  it('reassembles a message split byte by byte', async () => {
    const { client, server } = await tcpPair();
    const b = duplexTransport(server);
    const rb = receiver();
    b.start(rb.r);
    const frame = Buffer.concat([Buffer.from([0, 0, 0, 5]), Buffer.from('hello')]);
    for (const byte of frame) {
      client.write(Buffer.of(byte));
      await new Promise((r) => setTimeout(r, 1));
    }
    await waitFor(() => rb.messages.length === 1);
    expect(Buffer.from(rb.messages[0]!).toString()).toBe('hello');
    client.destroy();
    await waitFor(() => rb.state.closed);
  });

  it('closes with MessageTooLargeError on an oversized announced length, before buffering it', async () => {
    const { client, server } = await tcpPair();
    const b = duplexTransport(server, { maxMessageBytes: 1024 });
    const rb = receiver();
    b.start(rb.r);
    client.on('error', () => {});
    client.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3]));
    await waitFor(() => rb.state.closed);
    expect(rb.state.error).toBeInstanceOf(MessageTooLargeError);
    expect((rb.state.error as MessageTooLargeError).code).toBe('ERR_MESSAGE_TOO_LARGE');
    expect(rb.messages).toHaveLength(0);
    client.destroy();
  });

  it('refuses to send a message above the limit', async () => {
    const { client, server } = await tcpPair();
    const a = duplexTransport(client, { maxMessageBytes: 10 });
    expect(() => a.send(new Uint8Array(11))).toThrow(MessageTooLargeError);
    a.close();
    server.destroy();
  });

  it('validates maxMessageBytes', async () => {
    const { client, server } = await tcpPair();
    expect(() => duplexTransport(client, { maxMessageBytes: 0 })).toThrow(RangeError);
    client.destroy();
    server.destroy();
  });
});

describe('messagePortTransport', () => {
  it('transfers messages both ways, copying views of larger buffers', async () => {
    const { port1, port2 } = new MessageChannel();
    const a: Transport = messagePortTransport(port1, 'worker');
    const b = messagePortTransport(port2);
    const ra = receiver();
    const rb = receiver();
    a.start(ra.r);
    b.start(rb.r);
    const big = payload(100, 7);
    const view = big.subarray(10, 20);
    a.send(view);
    b.send(payload(5, 1));
    await waitFor(() => ra.messages.length === 1 && rb.messages.length === 1);
    expect(Array.from(rb.messages[0]!)).toEqual(Array.from(payload(100, 7).subarray(10, 20)));
    expect(big.byteLength).toBe(100); // not detached
    expect(a.remoteAddress).toBe('worker');
    a.close();
    await waitFor(() => rb.state.closed && ra.state.closed);
    expect(rb.state.error).toBeUndefined();
  });

  it('a failure reaches the peer as an error', async () => {
    const { port1, port2 } = new MessageChannel();
    const a = messagePortTransport(port1);
    const b = messagePortTransport(port2);
    const rb = receiver();
    b.start(rb.r);
    a.start(receiver().r);
    a.close(new Error('boom'));
    await waitFor(() => rb.state.closed);
    expect(rb.state.error).toBeInstanceOf(Error);
  });
});

describe('duplexTransport write bound', () => {
  it('closes when a peer stops reading and the write buffer passes maxBufferedBytes', async () => {
    const { client, server } = await tcpPair();
    server.pause(); // the peer never reads
    const a = duplexTransport(client, { maxBufferedBytes: 1 << 20 });
    const ra = receiver();
    a.start(ra.r);
    const chunk = new Uint8Array(64 * 1024);
    let thrown: unknown;
    for (let i = 0; i < 2_000 && thrown === undefined; i++) {
      try {
        a.send(chunk);
      } catch (error) {
        thrown = error;
      }
      if (i % 16 === 0) await new Promise((r) => setImmediate(r));
    }
    expect(thrown).toMatchObject({ code: 'ERR_LIMIT_EXCEEDED' });
    expect(ra.state.closed).toBe(true);
    server.destroy();
  });
});
