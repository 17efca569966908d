/**
 * The worker's end of the thread pool relay: the frames one turn writes cross as one
 * message, moved rather than copied, and acknowledgements come in batches without ever
 * leaving the main thread's credit window shut.
 */
import { once } from 'node:events';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { type PortControl, PortDuplex } from '../src/port-duplex.js';

function received(port: MessagePort): (Uint8Array | Uint8Array[] | PortControl)[] {
  const messages: (Uint8Array | Uint8Array[] | PortControl)[] = [];
  port.on('message', (m: Uint8Array | Uint8Array[] | PortControl) => messages.push(m));
  return messages;
}

const settle = () => new Promise((r) => setTimeout(r, 50));

describe('PortDuplex', () => {
  it('sends the frames of one turn as one message, moving their buffers instead of joining them', async () => {
    const { port1, port2 } = new MessageChannel();
    const messages = received(port1);
    const stream = new PortDuplex(port2, '127.0.0.1');
    const frames = [1, 2, 3].map((n) => Buffer.from(new Uint8Array([n, n, n]).buffer));
    stream.cork();
    for (const frame of frames) stream.write(frame);
    stream.uncork();
    stream.write(Buffer.from(new Uint8Array([4]).buffer));
    await settle();
    expect(messages).toHaveLength(1);
    const [batch] = messages as [Uint8Array[]];
    expect(Array.isArray(batch)).toBe(true);
    expect(batch.map((b) => [...b])).toEqual([[1, 1, 1], [2, 2, 2], [3, 3, 3], [4]]);
    // Moved: the writer's buffers were transferred, not copied into a joined one.
    for (const frame of frames) expect(frame.buffer.byteLength).toBe(0);
    stream.destroy();
    port1.close();
  });

  it('copies a chunk that shares its buffer instead of detaching the others', async () => {
    const { port1, port2 } = new MessageChannel();
    const messages = received(port1);
    const stream = new PortDuplex(port2, '127.0.0.1');
    const shared = new Uint8Array([1, 2, 3, 4]);
    stream.write(Buffer.from(shared.buffer, 0, 2));
    stream.write(Buffer.from(shared.buffer, 2, 2));
    await settle();
    expect(shared.byteLength).toBe(4);
    expect((messages[0] as Uint8Array[]).map((b) => [...b])).toEqual([
      [1, 2],
      [3, 4],
    ]);
    stream.destroy();
    port1.close();
  });

  it('acknowledges small messages in batches, and everything once the reader drains', async () => {
    const { port1, port2 } = new MessageChannel();
    const messages = received(port1);
    const stream = new PortDuplex(port2, '127.0.0.1', undefined, 1024);
    let read = 0;
    stream.on('data', (chunk: Buffer) => {
      read += chunk.byteLength;
    });
    for (let i = 0; i < 100; i++) port1.postMessage(new Uint8Array(100));
    await settle();
    expect(read).toBe(10_000);
    const acks = messages.filter((m) => !Array.isArray(m) && 'bytes' in m) as { bytes: number }[];
    // 100 messages, 9 acknowledgements of ~1 KiB: no message back per message.
    expect(acks.length).toBeLessThan(20);
    const acked = acks.reduce((n, a) => n + a.bytes, 0);
    // What is not acknowledged yet is less than a batch, and comes back when the consumer
    // asks for more (the credit window can never close on it).
    expect(10_000 - acked).toBeLessThan(1024);
    stream.pause();
    stream.resume();
    await settle();
    port1.postMessage({ t: 'eof' } satisfies PortControl);
    await once(stream, 'end');
    stream.destroy();
    port1.close();
  });
});
