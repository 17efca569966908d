/**
 * Regression: a transport may deliver, synchronously inside start(), the peer's hello that
 * arrived before the connection was opened (the secure channel does, after
 * authentication). The connection must already be waiting for it, or it is lost and the
 * open hangs until the hello timeout.
 */
import { describe, expect, it } from 'vitest';
import { connectTransport } from '../src/connection.js';
import { memoryTransportPair } from '../src/memory-transport.js';
import { Service } from '../src/service.js';

class Echo extends Service {
  echo(value: string) {
    return value;
  }
}

describe('protocol hello ordering', () => {
  it('opens when the peer hello is already queued before connectTransport is called', async () => {
    const [a, b] = memoryTransportPair();
    const first = connectTransport(a, { service: Echo, helloTimeout: 2_000 });
    // Let a's hello reach b's queue before b's connection exists.
    await new Promise((r) => setTimeout(r, 10));
    const second = await connectTransport(b, { helloTimeout: 2_000 });
    await first;
    expect(await (second.root as unknown as Echo).echo('hi')).toBe('hi');
    await second.close();
  });
});
