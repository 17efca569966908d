import { describe, expect, it, vi } from 'vitest';
import { ByteSource, byteStream, STREAM_CHUNK_BYTES } from '../src/byte-stream.js';
import { type Connection, connectTransport } from '../src/connection.js';
import { ConnectionClosedError, RemoteError } from '../src/errors.js';
import { memoryTransportPair } from '../src/memory-transport.js';
import { joinPieces } from '../src/message-parts.js';
import type { Remote } from '../src/remote.js';
import { Service } from '../src/service.js';
import type { Transport } from '../src/transport.js';
import { connectionPair, TRANSPORTS, waitFor } from './helpers.js';

/** Deterministic bytes: byte i of the whole stream is (i * 7 + 3) & 255. */
function pattern(offset: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = ((offset + i) * 7 + 3) & 255;
  return out;
}

/** Where `bytes` first differs from {@link pattern}, or -1. */
function firstMismatch(bytes: Uint8Array): number {
  for (let i = 0; i < bytes.byteLength; i++)
    if (bytes[i] !== (((i * 7 + 3) & 255) as number)) return i;
  return -1;
}

/** A source stream of `total` bytes in chunks of `chunk` that counts what was pulled. */
function counted(total: number, chunk: number) {
  const stats = { produced: 0, cancelled: 0 };
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (stats.produced >= total) {
          controller.close();
          return;
        }
        const n = Math.min(chunk, total - stats.produced);
        controller.enqueue(pattern(stats.produced, n));
        stats.produced += n;
      },
      cancel() {
        stats.cancelled++;
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, stats };
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let size = 0;
  for await (const part of stream) {
    parts.push(part);
    size += part.byteLength;
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.byteLength;
  }
  return out;
}

class Files extends Service {
  last: { produced: number; cancelled: number } | undefined;
  generatorClosed = 0;
  download(total: number, chunk: number): ReadableStream<Uint8Array> {
    const { stream, stats } = counted(total, chunk);
    this.last = stats;
    return stream;
  }
  lines(n: number): ReadableStream<Uint8Array> {
    const self = this;
    return byteStream(
      (async function* () {
        try {
          for (let i = 0; i < n; i++) yield new TextEncoder().encode(`line ${i}\n`);
        } finally {
          self.generatorClosed++;
        }
      })(),
    );
  }
  failing(after: number): ReadableStream<Uint8Array> {
    let sent = 0;
    return new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= after) {
          controller.error(new Error('disk on fire'));
          return;
        }
        controller.enqueue(new Uint8Array(1000));
        sent += 1000;
      },
    });
  }
  async upload(stream: ReadableStream<Uint8Array>): Promise<number> {
    const bytes = await readAll(stream);
    return firstMismatch(bytes) === -1 ? bytes.byteLength : -1;
  }
  async readSome(stream: ReadableStream<Uint8Array>, bytes: number): Promise<number> {
    const reader = stream.getReader();
    let got = 0;
    while (got < bytes) {
      const step = await reader.read();
      if (step.done) break;
      got += step.value.byteLength;
    }
    await reader.cancel('enough');
    return got;
  }
}

async function settled(server: Connection, client: Connection): Promise<void> {
  await waitFor(() => {
    const s = server.stats();
    const c = client.stats();
    return (
      s.exports === 0 &&
      c.exports === 0 &&
      s.questions === 0 &&
      c.questions === 0 &&
      s.answers === 0 &&
      c.answers === 0
    );
  }, 5000);
}

describe.each(TRANSPORTS)('byte streams over %s', (kind) => {
  it('a returned ReadableStream arrives as one with the same bytes, past maxMessageBytes', async () => {
    const { server, client } = await connectionPair(
      kind,
      { service: Files, maxMessageBytes: 256 * 1024 },
      { maxMessageBytes: 256 * 1024 },
    );
    const files = client.root as Remote<Files>;
    // One source chunk of 3 MiB: larger than a message, a credit and the window.
    const stream = await files.download(5 * 1024 * 1024 + 17, 3 * 1024 * 1024);
    expect(stream).toBeInstanceOf(ReadableStream);
    const bytes = await readAll(stream);
    expect(bytes.byteLength).toBe(5 * 1024 * 1024 + 17);
    expect(firstMismatch(bytes)).toBe(-1);
    await settled(server, client);
    client.close();
    server.close();
  });

  it('a ReadableStream passed as an argument is read by the callee', async () => {
    const { server, client } = await connectionPair(kind, { service: Files });
    const files = client.root as Remote<Files>;
    const { stream, stats } = counted(3 * 1024 * 1024 + 5, 100_000);
    expect(await files.upload(stream)).toBe(3 * 1024 * 1024 + 5);
    expect(stats.produced).toBe(3 * 1024 * 1024 + 5);
    await settled(server, client);
    client.close();
    server.close();
  });

  it('byteStream() sends an async generator as a stream; cancelling runs its finally', async () => {
    const { server, client } = await connectionPair(kind, { service: Files });
    const files = client.root as Remote<Files>;
    const text = new TextDecoder().decode(await readAll(await files.lines(3)));
    expect(text).toBe('line 0\nline 1\nline 2\n');
    const service = server.service as Files;
    await waitFor(() => service.generatorClosed === 1);
    const reader = (await files.lines(1_000_000)).getReader();
    expect((await reader.read()).done).toBe(false);
    await reader.cancel();
    await waitFor(() => service.generatorClosed === 2);
    await settled(server, client);
    client.close();
    server.close();
  });

  it('the reader window bounds what the owner reads ahead', async () => {
    const window = 256 * 1024;
    const { server, client } = await connectionPair(
      kind,
      { service: Files },
      { streamWindowBytes: window },
    );
    const files = client.root as Remote<Files>;
    const stream = await files.download(64 * 1024 * 1024, 16 * 1024);
    const service = server.service as Files;
    // Nothing is asked before the first read: a reader that never reads costs nothing.
    await new Promise((r) => setTimeout(r, 100));
    expect(service.last!.produced).toBe(0);
    const reader = stream.getReader();
    await reader.read();
    await new Promise((r) => setTimeout(r, 200));
    expect(service.last!.produced).toBeGreaterThan(0);
    expect(service.last!.produced).toBeLessThanOrEqual(window + 16 * 1024);
    await reader.cancel();
    await waitFor(() => service.last!.cancelled === 1);
    await settled(server, client);
    client.close();
    server.close();
  });

  it('cancelling midway from the reader cancels the source and frees both ends', async () => {
    const { server, client } = await connectionPair(kind, { service: Files });
    const files = client.root as Remote<Files>;
    const service = server.service as Files;
    const reader = (await files.download(1024 * 1024 * 1024, 64 * 1024)).getReader();
    let got = 0;
    while (got < 4 * 1024 * 1024) got += (await reader.read()).value!.byteLength;
    await reader.cancel('enough');
    await waitFor(() => service.last!.cancelled === 1);
    expect(service.last!.produced).toBeLessThan(8 * 1024 * 1024);
    await settled(server, client);
    // And the other way: the callee cancels a stream the caller sent.
    const { stream, stats } = counted(1024 * 1024 * 1024, 64 * 1024);
    expect(await files.readSome(stream, 2 * 1024 * 1024)).toBeGreaterThanOrEqual(2 * 1024 * 1024);
    await waitFor(() => stats.cancelled === 1);
    await settled(server, client);
    client.close();
    server.close();
  });

  it('an error of the source (the owner gives up) rejects the read with a RemoteError', async () => {
    const { server, client } = await connectionPair(kind, { service: Files });
    const files = client.root as Remote<Files>;
    const stream = await files.failing(50_000);
    const error = await readAll(stream).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RemoteError);
    expect((error as Error).message).toContain('disk on fire');
    await settled(server, client);
    client.close();
    server.close();
  });

  it('the connection closing errors the stream and cancels the source', async () => {
    const { server, client } = await connectionPair(kind, { service: Files });
    const files = client.root as Remote<Files>;
    const service = server.service as Files;
    const reader = (await files.download(1024 * 1024 * 1024, 64 * 1024)).getReader();
    await reader.read();
    server.close();
    const error = await (async () => {
      for (let i = 0; i < 10_000; i++) await reader.read();
    })().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectionClosedError);
    await waitFor(() => service.last!.cancelled === 1);
    client.close();
  });
});

class Mixed extends Service {
  cancelled = 0;
  /** A stream beside a value that cannot be sent: the reply fails after the stream was taken. */
  broken(): unknown {
    return {
      stream: new ReadableStream<Uint8Array>({
        cancel: () => {
          this.cancelled++;
        },
      }),
      bad: Symbol('unsendable'),
    };
  }
  take(_stream: ReadableStream<Uint8Array>, _bad: unknown): void {}
}

describe('byteStream()', () => {
  it('refuses what is not an iterable of chunks, with a TypeError', () => {
    expect(() => byteStream(42 as unknown as Iterable<Uint8Array>)).toThrow(TypeError);
    expect(() => byteStream(new Uint8Array(4) as unknown as Iterable<Uint8Array>)).toThrow(
      /iterable of Uint8Array chunks/,
    );
  });
});

describe('a message with a stream that cannot be sent', () => {
  it('cancels the stream it had taken, for a reply and for a request', async () => {
    const { server, client } = await connectionPair('memory', { service: Mixed });
    const mixed = client.root as Remote<Mixed>;
    await expect(Promise.resolve(mixed.broken())).rejects.toThrow(/symbol/);
    await waitFor(() => (server.service as Mixed).cancelled === 1);
    let cancelled = 0;
    const mine = new ReadableStream<Uint8Array>({
      cancel: () => {
        cancelled++;
      },
    });
    await expect(Promise.resolve(mixed.take(mine, Symbol('x')))).rejects.toThrow(/symbol/);
    await waitFor(() => cancelled === 1);
    expect(server.stats().exports).toBe(0);
    expect(client.stats().exports).toBe(0);
    client.close();
    server.close();
  });
});

/**
 * `transport` with what it delivers apart re-cut the way the secure channel delivers it:
 * the parts' bytes in frames of `frame` bytes, each opened into a buffer of its own (a
 * type byte, then the body), wherever the parts begin and end.
 */
function framed(
  transport: Transport,
  frame: number,
): { transport: Transport; frames: Set<ArrayBufferLike> } {
  const frames = new Set<ArrayBufferLike>();
  const wrapped: Transport = {
    send: (data) => transport.send(data),
    sendParts: (pieces) => transport.sendParts!(pieces),
    close: (error) => transport.close(error),
    start: (receiver) =>
      transport.start({
        onMessage: (data) => receiver.onMessage(data),
        onClose: (error) => receiver.onClose(error),
        onMessageParts: (head, parts) => {
          const all = joinPieces(parts);
          const pieces: Uint8Array[] = [];
          for (let at = 0; at < all.byteLength; at += frame) {
            const body = all.subarray(at, at + frame);
            const opened = new Uint8Array(1 + body.byteLength);
            opened.set(body, 1);
            frames.add(opened.buffer);
            pieces.push(opened.subarray(1));
          }
          receiver.onMessageParts!(head, pieces);
        },
      }),
  };
  return { transport: wrapped, frames };
}

describe('a byte stream over a transport that delivers parts as frames', () => {
  it('hands the reader each frame as one chunk, uncopied, whatever the source chunks', async () => {
    const [a, b] = memoryTransportPair();
    const { transport, frames } = framed(b, 10_000);
    const [server, client] = await Promise.all([
      connectTransport(a, { service: Files }),
      connectTransport(transport),
    ]);
    const files = client.root as Remote<Files>;
    // Source chunks of 8 KiB (out of line: 4 KiB and up) straddle the 10,000-byte frames;
    // several reads.
    const total = 400 * 8192;
    const stream = await files.download(total, 8192);
    const chunks: Uint8Array[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    const bytes = joinPieces(chunks);
    expect(bytes.byteLength).toBe(total);
    expect(firstMismatch(bytes)).toBe(-1);
    for (const [i, chunk] of chunks.entries()) {
      expect(frames.has(chunk.buffer)).toBe(true);
      // Pieces of one frame (the end of a part and the start of the next) come as one.
      if (i > 0) expect(chunk.buffer === chunks[i - 1]!.buffer).toBe(false);
      expect(chunk.byteOffset).toBe(1);
    }
    // One chunk per frame: each read's bytes in frames of 10,000.
    let frameCount = 0;
    for (let left = total; left > 0; left -= STREAM_CHUNK_BYTES)
      frameCount += Math.ceil(Math.min(left, STREAM_CHUNK_BYTES) / 10_000);
    expect(chunks).toHaveLength(frameCount);
    await settled(server, client);
    client.close();
    server.close();
  });
});

describe("the owner's reads of its source", () => {
  it('gathers the chunks an async generator computes into one answer, without a timer each', async () => {
    async function* chunks() {
      for (let i = 0; i < 100; i++) yield pattern(i * 8192, 8192);
    }
    const source = new ByteSource(byteStream(chunks()));
    const timers = vi.spyOn(globalThis, 'setTimeout');
    try {
      const answer = await source._read(16 * 8192);
      expect(answer.chunks).toHaveLength(16);
      expect(answer.done).toBe(false);
      expect(timers).not.toHaveBeenCalled();
    } finally {
      timers.mockRestore();
      await source._close();
    }
  });

  it('answers with the bytes in hand rather than wait for a slow source', async () => {
    let pulls = 0;
    const slow = new ReadableStream<Uint8Array>(
      {
        async pull(controller) {
          // The first chunk at once, every later one only after 200 ms.
          if (pulls++ > 0) await new Promise((r) => setTimeout(r, 200));
          controller.enqueue(pattern(0, 8192));
        },
      },
      { highWaterMark: 0 },
    );
    const source = new ByteSource(slow);
    const answer = await source._read(1 << 20);
    expect(answer.chunks).toHaveLength(1);
    // The read still pending is kept for the next answer, not dropped.
    const next = await source._read(1 << 20);
    expect(next.chunks).toHaveLength(1);
    await source._close();
  });
});
