/**
 * BATCH frames: small messages sent in one tick travel as one frame (one AEAD operation
 * for many pipelined calls), in order with everything else, and a malformed batch from a
 * hostile peer closes only that channel.
 */
import { describe, expect, it } from 'vitest';
import { FrameType, type SecureChannel } from '../src/channel/secure-channel.js';
import { ChannelError } from '../src/errors.js';
import { scriptedPair, securePair } from './channel-helpers.js';

function collect(channel: SecureChannel) {
  const messages: Uint8Array[] = [];
  let closed: Error | undefined | null = null;
  channel.start({
    onMessage: (d) => messages.push(d.slice()),
    onClose: (e) => {
      closed = e;
    },
  });
  return { messages, closed: () => closed };
}

async function until(check: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

function scripted(options: { batch?: boolean } = {}) {
  return scriptedPair({ batch: options.batch ?? true });
}

describe('BATCH frames', () => {
  it('packs small messages sent in one tick into one frame, and keeps order around large ones', async () => {
    const { peer, channel } = await scripted();
    collect(channel);
    for (let i = 0; i < 50; i++) channel.send(Uint8Array.of(i, i));
    channel.send(new Uint8Array(10_000).fill(9));
    channel.send(Uint8Array.of(200));
    const first = (await peer.readFrame())!;
    expect(first.type).toBe(FrameType.BATCH);
    expect(first.body.length).toBe(50 * 4);
    expect([...first.body.subarray(0, 8)]).toEqual([0, 2, 0, 0, 0, 2, 1, 1]);
    const second = (await peer.readFrame())!;
    expect(second.type).toBe(FrameType.DATA);
    expect(second.body.length).toBe(10_000);
    const third = (await peer.readFrame())!;
    expect(third).toEqual({ type: FrameType.DATA, body: Uint8Array.of(200) });
    channel.close();
  });

  it('delivers every message of a batch, in order, as separate messages', async () => {
    const pair = await securePair();
    const client = pair.client.channel;
    const server = pair.server.channel;
    const received = collect(server);
    collect(client);
    const sent: number[] = [];
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 400; i++) {
        const n = round * 400 + i;
        sent.push(n);
        client.send(Uint8Array.of(n >> 8, n & 0xff));
      }
      await new Promise((r) => setTimeout(r, 0));
    }
    await until(() => received.messages.length === sent.length);
    expect(received.messages.map((m) => (m[0]! << 8) | m[1]!)).toEqual(sent);
    client.close();
    server.close();
  });

  it('keeps the batches of channels sending in the same ticks apart, whatever their sizes', async () => {
    // Channels take their batch array from one spare per thread and give it back at
    // their flush: interleaved sends must never mix or lose messages.
    const pairs = await Promise.all([securePair(), securePair(), securePair()]);
    const received = pairs.map((pair) => collect(pair.server.channel));
    for (const pair of pairs) collect(pair.client.channel);
    const sent: number[][] = pairs.map(() => []);
    for (let round = 0; round < 6; round++) {
      // 1, 2, 70 (more than the array kept) and 1 000 messages per channel per tick.
      const perChannel = [1, 2, 70, 1000][round % 4]!;
      for (let i = 0; i < perChannel; i++) {
        for (const [c, pair] of pairs.entries()) {
          if (c === 1 && i % 3 === 0) continue;
          const n = (round * 1000 + i) * 4 + c;
          sent[c]!.push(n);
          pair.client.channel.send(Uint8Array.of(n >> 16, (n >> 8) & 0xff, n & 0xff));
        }
      }
      await new Promise((r) => setTimeout(r, 0));
    }
    await until(() => received.every((r, c) => r.messages.length === sent[c]!.length));
    for (const [c, r] of received.entries()) {
      expect(r.messages.map((m) => (m[0]! << 16) | (m[1]! << 8) | m[2]!)).toEqual(sent[c]);
    }
    for (const pair of pairs) {
      pair.client.channel.close();
      pair.server.channel.close();
    }
  });

  it('sends one message per frame when batching is off', async () => {
    const { peer, channel } = await scripted({ batch: false });
    collect(channel);
    channel.send(Uint8Array.of(1));
    channel.send(Uint8Array.of(2));
    expect(await peer.readFrame()).toEqual({ type: FrameType.DATA, body: Uint8Array.of(1) });
    expect(await peer.readFrame()).toEqual({ type: FrameType.DATA, body: Uint8Array.of(2) });
    channel.close();
  });

  for (const [name, body] of [
    ['ends inside a length', Uint8Array.of(0, 1, 7, 0)],
    ['ends inside a message', Uint8Array.of(0, 5, 1, 2)],
  ] as const) {
    it(`a BATCH that ${name} closes the channel with ChannelError`, async () => {
      const { peer, channel } = await scripted();
      const got = collect(channel);
      peer.writeRaw(peer.sealFrame(FrameType.BATCH, body));
      await until(() => got.closed() !== null);
      expect(got.closed()).toBeInstanceOf(ChannelError);
      expect(got.messages.length).toBeLessThanOrEqual(1);
    });
  }
});

describe('a peer that stops reading', () => {
  it('is cut off once maxBufferedBytes wait to be sent, with ChannelError', async () => {
    const { channel, peerSocket: a } = await scriptedPair({ maxBufferedBytes: 256 * 1024 });
    const got = collect(channel);
    channel.setLimits();
    a.pause(); // the peer reads nothing from now on
    const chunk = new Uint8Array(60_000);
    let thrown: unknown;
    for (let i = 0; i < 2_000 && thrown === undefined; i++) {
      try {
        channel.send(chunk);
      } catch (error) {
        thrown = error;
      }
      if (i % 20 === 19) await new Promise((r) => setTimeout(r, 1));
    }
    expect(thrown).toBeInstanceOf(ChannelError);
    expect((thrown as Error).message).toMatch(/not reading/);
    await until(() => got.closed() !== null);
    expect(got.closed()).toBeInstanceOf(ChannelError);
    a.destroy();
  });
});

/** ES2024's resizable ArrayBuffer, which this project's TypeScript lib does not declare. */
const ResizableBuffer = ArrayBuffer as unknown as new (
  length: number,
  options: { maxByteLength: number },
) => ArrayBuffer & { resize(length: number): void };

describe('a batched message whose length changes before the tick', () => {
  it('is sealed for the bytes laid out, with no tail of unwritten memory', async () => {
    const { peer, channel } = await scripted();
    const got = collect(channel);
    const buffer = new ResizableBuffer(3, { maxByteLength: 3 });
    const first = new Uint8Array(buffer).fill(7);
    channel.send(first);
    channel.send(Uint8Array.of(1, 2));
    // Shrinking the buffer leaves the queued (length-tracking) view with length 0.
    buffer.resize(0);
    expect(first.length).toBe(0);
    const frame = await peer.readFrame();
    expect(got.closed()).toBe(null);
    expect(frame!.type).toBe(FrameType.BATCH);
    expect([...frame!.body]).toEqual([0, 0, 0, 2, 1, 2]);
    channel.send(Uint8Array.of(3));
    expect(await peer.readFrame()).toEqual({ type: FrameType.DATA, body: Uint8Array.of(3) });
    channel.close();
  });

  it('closes the channel with ChannelError when it grew, sending nothing of the batch', async () => {
    const { peer, channel } = await scripted();
    const got = collect(channel);
    const buffer = new ResizableBuffer(2, { maxByteLength: 4096 });
    const growing = new Uint8Array(buffer);
    channel.send(Uint8Array.of(1));
    channel.send(growing);
    buffer.resize(4096);
    await until(() => got.closed() !== null);
    expect(got.closed()).toBeInstanceOf(ChannelError);
    expect(await peer.readFrame()).toBeUndefined();
  });
});
