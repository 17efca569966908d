import { describe, expect, it } from 'vitest';
import { byteStream } from '../../src/byte-stream.js';
import { connectTransport } from '../../src/connection.js';
import { memoryTransportPair } from '../../src/memory-transport.js';
import type { Remote } from '../../src/remote.js';
import { Service } from '../../src/service.js';

// Byte streams use Web streams and timers only: they run where Node's globals are gone.

let closed = 0;

class Source extends Service {
  bytes(n: number): ReadableStream<Uint8Array> {
    return byteStream(
      (async function* () {
        try {
          for (let i = 0; i < n; i++) yield new Uint8Array(100_000).fill(i & 255);
        } finally {
          closed++;
        }
      })(),
    );
  }
}

describe('byte streams in the portable run', () => {
  it('a stream arrives whole, and cancelling it closes the source', async () => {
    const [a, b] = memoryTransportPair();
    const [server, client] = await Promise.all([
      connectTransport(a, { service: Source }),
      connectTransport(b, { streamWindowBytes: 200_000 }),
    ]);
    const source = client.root as Remote<Source>;
    let total = 0;
    let last = -1;
    for await (const chunk of await source.bytes(30)) {
      total += chunk.byteLength;
      last = chunk[chunk.byteLength - 1]!;
    }
    expect(total).toBe(3_000_000);
    expect(last).toBe(29);
    const reader = (await source.bytes(1_000)).getReader();
    await reader.read();
    await reader.cancel();
    const end = Date.now() + 5000;
    while (closed < 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
    expect(closed).toBe(2);
    client.close();
    server.close();
  });
});
