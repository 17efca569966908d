/**
 * Large payloads with the default limits: a 16 MiB byte array passes as an argument and a
 * result, and msgpackr's encode buffer does not stay large (nor get its unused tail copied
 * into the next message's buffer) after a large message.
 */
import { describe, expect, it } from 'vitest';
import { Codec, DEFAULT_CODEC_MAX_MESSAGE_BYTES } from '../src/codec.js';
import { connectTransport } from '../src/connection.js';
import { DEFAULT_MAX_MESSAGE_BYTES, duplexTransport } from '../src/duplex-transport.js';
import { Service } from '../src/service.js';
import { tcpPair } from './helpers.js';

const MIB = 1024 * 1024;

class Echo extends Service {
  echo(data: Uint8Array): Uint8Array {
    return data;
  }
}

describe('default limits and large payloads', () => {
  it('regression: a 16 MiB Uint8Array echoes over TCP with the default limits', async () => {
    const { client, server, listener } = await tcpPair();
    try {
      const [, conn] = await Promise.all([
        connectTransport(duplexTransport(server), { service: Echo }),
        connectTransport(duplexTransport(client)),
      ]);
      const payload = new Uint8Array(16 * MIB);
      payload[0] = 7;
      payload[payload.length - 1] = 9;
      const root = conn.root as unknown as { echo(d: Uint8Array): Promise<Uint8Array> };
      const echoed = await root.echo(payload);
      expect(echoed.length).toBe(16 * MIB);
      expect(echoed[0]).toBe(7);
      expect(echoed[echoed.length - 1]).toBe(9);
      await conn.close();
    } finally {
      client.destroy();
      server.destroy();
      listener.close();
    }
  }, 60_000);

  it('leaves room for the envelope above 16 MiB, and both defaults agree', () => {
    expect(DEFAULT_CODEC_MAX_MESSAGE_BYTES).toBe(16 * MIB + 64 * 1024);
    expect(DEFAULT_MAX_MESSAGE_BYTES).toBe(DEFAULT_CODEC_MAX_MESSAGE_BYTES);
  });

  it('regression: a small message after a large one is not a view of a large encode buffer', () => {
    const codec = new Codec({ maxMessageBytes: 64 * MIB, maxDepth: 16 });
    // A large string is packed inline (only byte arrays go out of line).
    const large = codec.encode([1, 'x'.repeat(20 * MIB)]);
    expect(large.byteLength).toBeGreaterThan(20 * MIB);
    const small = codec.encode([1, 2, 3]);
    // Before, msgpackr kept its 40 MiB buffer and the next messages were written at its
    // tail; growing from there copied the unused rest of it.
    expect(small.buffer.byteLength).toBeLessThanOrEqual(256 * 1024);
    expect(codec.decode(small)).toEqual([1, 2, 3]);
    // The large message's bytes stay intact: dropping the buffer never reuses it.
    const decoded = codec.decode(large) as [number, string];
    expect(decoded[1].length).toBe(20 * MIB);
  });
});
