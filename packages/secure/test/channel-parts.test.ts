/**
 * Messages with out-of-line parts (docs/protocol.md §2): sent sealed straight from the
 * caller's pieces, delivered to a receiver that takes them apart as a head and the frames
 * they were opened in (parts up to 1 MiB) or one buffer per part (larger), and whole to
 * one that does not or when the head does not add up.
 */

import type { Socket } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MIN_CONTINUED_BODY_BYTES } from '../src/channel/channel-options.js';
import { PartsSink, splitIntoParts, VIEW_PART_MAX_BYTES } from '../src/channel/message-parts.js';
import { performHandshake } from '../src/channel/perform-handshake.js';
import { FrameType, type SecureChannel } from '../src/channel/secure-channel.js';
import { nodeCryptoProvider } from '../src/crypto/node-provider.js';
import { ChannelError } from '../src/errors.js';
import { duplexPair, PROLOGUE, ScriptedPeer, scriptedPair, securePair } from './channel-helpers.js';

function bytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 13 + seed) & 0xff;
  return out;
}

function head(envelope: Uint8Array, lengths: readonly number[]): Uint8Array {
  const out = new Uint8Array(9 + 4 * lengths.length + envelope.length);
  const view = new DataView(out.buffer);
  out[0] = 0xc1;
  view.setUint32(1, envelope.length);
  view.setUint32(5, lengths.length);
  for (const [i, n] of lengths.entries()) view.setUint32(9 + 4 * i, n);
  out.set(envelope, 9 + 4 * lengths.length);
  return out;
}

function join(pieces: readonly Uint8Array[]): Buffer {
  return Buffer.concat(pieces.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength)));
}

async function until(check: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function pair() {
  const { client, server } = await securePair();
  for (const c of [client.channel, server.channel]) c.setLimits();
  return { a: client.channel, b: server.channel };
}

function collect(channel: SecureChannel, apart: boolean) {
  const whole: Uint8Array[] = [];
  const split: Uint8Array[][] = [];
  channel.start({
    onMessage: (d) => whole.push(d.slice()),
    ...(apart ? { onMessageParts: (h: Uint8Array, p: Uint8Array[]) => split.push([h, ...p]) } : {}),
    onClose: () => {},
  });
  return { whole, split };
}

describe('messages with out-of-line parts', () => {
  it('arrive as a head and the frames they were opened in, when no part exceeds 1 MiB', async () => {
    const { a, b } = await pair();
    const got = collect(b, true);
    const parts = [bytes(200_000, 1), bytes(70_000, 2), bytes(1, 3), bytes(VIEW_PART_MAX_BYTES, 4)];
    const h = head(
      bytes(300, 4),
      parts.map((p) => p.length),
    );
    a.sendParts([h, ...parts]);
    await until(() => got.split.length === 1);
    const [gotHead, ...pieces] = got.split[0]!;
    expect(join([gotHead!]).equals(join([h]))).toBe(true);
    expect(join(pieces).equals(join(parts))).toBe(true);
    // Views of the opened frames, uncopied: one per frame, or two for a frame split across
    // socket reads (opened in two pieces), each in a buffer of its own no larger than a
    // frame's plaintext.
    const frames = Math.ceil((h.length + parts.reduce((n, p) => n + p.length, 0)) / 65518);
    expect(pieces.length).toBeGreaterThanOrEqual(frames);
    expect(pieces.length).toBeLessThanOrEqual(2 * frames);
    for (const piece of pieces) {
      expect(piece.byteLength).toBeGreaterThan(0);
      expect(piece.buffer.byteLength).toBeLessThanOrEqual(65519);
    }
    expect(new Set(pieces.map((p) => p.buffer)).size).toBe(pieces.length);
    a.close();
  });

  it('arrive as a head and one buffer per part when a part exceeds 1 MiB', async () => {
    const { a, b } = await pair();
    const got = collect(b, true);
    const parts = [bytes(200_000, 1), bytes(VIEW_PART_MAX_BYTES + 1, 2), bytes(1, 3)];
    const h = head(
      bytes(300, 4),
      parts.map((p) => p.length),
    );
    a.sendParts([h, ...parts]);
    await until(() => got.split.length === 1);
    const [gotHead, ...gotParts] = got.split[0]!;
    expect(join([gotHead!]).equals(join([h]))).toBe(true);
    expect(gotParts).toHaveLength(3);
    for (const [i, part] of gotParts.entries()) {
      expect(join([part]).equals(join([parts[i]!]))).toBe(true);
      expect(part.byteOffset).toBe(0);
      expect(part.byteLength).toBe(part.buffer.byteLength);
    }
    a.close();
  });

  it('are sealed before sendParts returns, so the caller may reuse its buffers at once', async () => {
    const { a, b } = await pair();
    const got = collect(b, false);
    const part = bytes(300_000, 5);
    const original = part.slice();
    const h = head(new Uint8Array(10), [part.length]);
    a.sendParts([h, part]);
    part.fill(0);
    await until(() => got.whole.length === 1);
    expect(join(got.whole).equals(join([h, original]))).toBe(true);
    a.close();
  });

  it('arrive whole to a receiver without onMessageParts, or when the head does not add up', async () => {
    const { a, b } = await pair();
    const got = collect(b, true);
    // Announces a 3 GiB part: never allocated, the message (100 KiB) is delivered whole.
    const liar = [head(new Uint8Array(4), [0xc0000000]), bytes(100_000, 6)];
    a.sendParts(liar);
    await until(() => got.whole.length === 1);
    expect(got.split).toHaveLength(0);
    expect(join(got.whole).equals(join(liar))).toBe(true);
    a.close();
    const second = await pair();
    const plain = collect(second.b, false);
    const message = [head(new Uint8Array(4), [100_000]), bytes(100_000, 7)];
    second.a.sendParts(message);
    await until(() => plain.whole.length === 1);
    expect(join(plain.whole).equals(join(message))).toBe(true);
    second.a.close();
  });

  it('are refused on a closed channel', async () => {
    const { a } = await pair();
    a.close();
    expect(() => a.sendParts([new Uint8Array(10), new Uint8Array(100_000)])).toThrow(ChannelError);
  });

  it('split any byte pieces into the same bytes or not at all (property)', () => {
    const message = fc.oneof(
      fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 5 }),
      fc
        .tuple(
          fc.array(fc.nat({ max: 40 }), { minLength: 1, maxLength: 4 }),
          fc.nat({ max: 20 }),
          fc.array(fc.nat({ max: 200 }), { maxLength: 6 }),
        )
        .map(([lengths, envelope, cuts]) => {
          const all = join([head(bytes(envelope, 1), lengths), ...lengths.map((n) => bytes(n, n))]);
          const points = [...new Set(cuts.map((c) => c % (all.length + 1)))].sort((x, y) => x - y);
          const pieces: Uint8Array[] = [];
          let from = 0;
          for (const p of [...points, all.length]) {
            pieces.push(all.subarray(from, p));
            from = p;
          }
          return pieces;
        }),
    );
    fc.assert(
      fc.property(message, (pieces) => {
        const total = pieces.reduce((n, p) => n + p.length, 0);
        const split = splitIntoParts(pieces, total);
        if (split !== undefined) expect(join(split).equals(join(pieces))).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('are filled frame by frame into the same bytes as gathered and split (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.nat({ max: 40 }), { minLength: 1, maxLength: 4 }),
        fc.nat({ max: 20 }),
        fc.array(fc.nat({ max: 200 }), { maxLength: 6 }),
        fc.nat({ max: 41 }),
        (lengths, envelope, cuts, viewMax) => {
          const h = head(bytes(envelope, 1), lengths);
          const all = join([h, ...lengths.map((n) => bytes(n, n))]);
          const points = [...new Set(cuts.map((c) => c % (all.length + 1)))].sort((x, y) => x - y);
          const pieces: Uint8Array[] = [];
          let from = 0;
          for (const p of [...points, all.length]) {
            pieces.push(all.subarray(from, p));
            from = p;
          }
          const sink = PartsSink.open(pieces[0]!, 1 << 20, viewMax);
          if (sink === undefined) return;
          for (const piece of pieces) expect(sink.write(piece)).toBe(true);
          expect(sink.complete).toBe(true);
          expect(join([sink.head]).equals(h)).toBe(true);
          expect(join([sink.head, ...sink.parts]).equals(all)).toBe(true);
          if (Math.max(...lengths) > viewMax) {
            // Copied: one buffer of its own per part.
            expect(sink.parts.map((p) => p.length)).toEqual(lengths);
            for (const part of sink.parts) expect(part.buffer.byteLength).toBe(part.length);
          } else {
            // Views of what was written, in order, none empty.
            for (const part of sink.parts) {
              expect(part.length).toBeGreaterThan(0);
              expect(part.buffer).toBe(all.buffer);
            }
          }
          expect(sink.write(Uint8Array.of(1))).toBe(false);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('refuses a hostile peer whose message ends before, or runs past, the parts its head announced', async () => {
    for (const [announced, sent] of [
      [1 << 20, 2000],
      [1500, 4000],
    ] as const) {
      const { peer, channel } = await scriptedPair();
      channel.setLimits();
      let closed: Error | undefined | null = null;
      const whole: Uint8Array[] = [];
      channel.start({
        onMessage: (d) => whole.push(d),
        onMessageParts: () => whole.push(new Uint8Array(0)),
        onClose: (e) => {
          closed = e;
        },
      });
      const first = join([head(new Uint8Array(4), [announced]), bytes(1100, 1)]);
      peer.writeRaw(peer.sealFrame(FrameType.DATA_CONTINUED, first));
      peer.writeRaw(peer.sealFrame(FrameType.DATA, bytes(sent - 1100, 2)));
      await until(() => closed !== null);
      expect(closed).toBeInstanceOf(ChannelError);
      expect(whole).toHaveLength(0);
    }
  });

  it('arrive intact however the frames are cut, split across reads and interleaved (property)', async () => {
    // A scripted sender over an in-memory pipe, so that every write is one read of the
    // channel: each run cuts messages into frames of random sizes, slips PINGs between
    // them, and writes the bytes in random chunks. Everything is checked only once every
    // message has arrived, so a buffer reused after delivery would show.
    const part = fc.oneof(
      fc.nat({ max: 3000 }),
      fc.integer({ min: VIEW_PART_MAX_BYTES - 2, max: VIEW_PART_MAX_BYTES + 2 }),
    );
    const message = fc.record({
      lengths: fc.array(part, { minLength: 1, maxLength: 3 }),
      envelope: fc.nat({ max: 1500 }),
      frame: fc.integer({ min: MIN_CONTINUED_BODY_BYTES, max: 65518 }),
      pings: fc.array(fc.nat(), { maxLength: 2 }),
    });
    await fc.assert(
      fc.asyncProperty(
        fc.array(message, { minLength: 1, maxLength: 3 }),
        fc.array(fc.integer({ min: 1, max: 100_000 }), { minLength: 1, maxLength: 8 }),
        async (messages, chunkSizes) => {
          const [peerSide, channelSide] = duplexPair();
          const peer = new ScriptedPeer(peerSide as unknown as Socket);
          const [{ channel }] = await Promise.all([
            performHandshake(channelSide, {
              role: 'responder',
              staticKeyPair: nodeCryptoProvider.generateKeyPair(),
              prologue: PROLOGUE,
              verifyRemote: () => {},
            }),
            peer.handshake(),
          ]);
          channel.setLimits({ maxMessageBytes: 4 << 20 });
          const got: Uint8Array[][] = [];
          let failed: Error | undefined;
          channel.start({
            onMessage: (d) => got.push([d]),
            onMessageParts: (h, p) => got.push([h, ...p]),
            onClose: (e) => {
              failed = e;
            },
          });
          const sent: Buffer[] = [];
          const wire: Uint8Array[] = [];
          for (const [m, { lengths, envelope, frame, pings }] of messages.entries()) {
            const all = join([
              head(bytes(envelope, m), lengths),
              ...lengths.map((n, i) => bytes(n, m + i)),
            ]);
            sent.push(all);
            for (let at = 0; at < all.length; at += frame) {
              const last = at + frame >= all.length;
              const type = last ? FrameType.DATA : FrameType.DATA_CONTINUED;
              wire.push(peer.sealFrame(type, all.subarray(at, at + frame)));
              if (pings.includes(at / frame))
                wire.push(peer.sealFrame(FrameType.PING, new Uint8Array(0)));
            }
          }
          const bytesOnWire = join(wire);
          for (let at = 0, i = 0; at < bytesOnWire.length; i++) {
            const n = chunkSizes[i % chunkSizes.length]!;
            peer.writeRaw(new Uint8Array(bytesOnWire.subarray(at, at + n)));
            at += n;
          }
          await until(() => got.length === messages.length || failed !== undefined);
          expect(failed).toBeUndefined();
          for (const [m, pieces] of got.entries()) expect(join(pieces).equals(sent[m]!)).toBe(true);
          channel.close();
        },
      ),
      { numRuns: 40 },
    );
  });
});
