/**
 * Frame limits of the secure channel (docs/security.md "Frames"): the floor on `maxFrameBytes`, the
 * refusal of short DATA_CONTINUED frames (a peer must not make us hold many tiny pieces of
 * one message), and the received-frame cap, which is the pre-authentication
 * `maxFrameBytes` until `setLimits()` and Noise's 65535 after it, so that peers with
 * different frame limits interoperate.
 */
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_CHANNEL_LIMITS,
  DEFAULT_PREAUTH_CHANNEL_LIMITS,
  MIN_CONTINUED_BODY_BYTES,
  MIN_FRAME_LIMIT,
  NOISE_MAX_FRAME_BYTES,
  resolveLimits,
} from '../src/channel/channel-options.js';
import { FrameType, type SecureChannel } from '../src/channel/secure-channel.js';
import { ChannelError } from '../src/errors.js';
import { type Recorder, record, scriptedPair, securePair } from './channel-helpers.js';

const TAG_AND_TYPE = 17;
// Literals, not the exported constants, so that the expectations do not follow the code.
const FLOOR = 1024;
const CONTINUED_MIN = FLOOR - TAG_AND_TYPE;
const NOISE_MAX = 65535;

const bytes = (n: number, seed = 1): Uint8Array => {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
};

/** Rejects when the channel closes, with its error. */
function closing(rec: Recorder): Promise<never> {
  return rec.closed.then((error) => {
    throw error ?? new Error('the channel closed');
  });
}

/** The first `n` messages, or the channel's close as an error if it closes first. */
function firstMessages(rec: Recorder, n: number): Promise<Uint8Array[]> {
  return Promise.race([rec.waitFor(n), closing(rec)]);
}

/** How the channel closed, or 'open' if it is still open after `ms` (bounded wait). */
async function closedWithin(
  closed: Promise<Error | undefined>,
  ms = 2000,
): Promise<Error | undefined | 'open'> {
  let timer: NodeJS.Timeout | undefined;
  const open = new Promise<'open'>((resolve) => {
    timer = setTimeout(() => resolve('open'), ms);
  });
  try {
    return await Promise.race([closed, open]);
  } finally {
    clearTimeout(timer);
  }
}

describe('the frame limit floor', () => {
  it('is 1024 bytes, so a continuation carries at least 1007 message bytes', () => {
    expect(MIN_FRAME_LIMIT).toBe(FLOOR);
    expect(MIN_CONTINUED_BODY_BYTES).toBe(CONTINUED_MIN);
    expect(NOISE_MAX_FRAME_BYTES).toBe(NOISE_MAX);
  });

  it('resolveLimits and setLimits refuse maxFrameBytes below the floor or above 65535', async () => {
    for (const bad of [0, 17, 18, FLOOR - 1, 65536, 1024.5, Number.NaN]) {
      expect(() => resolveLimits(DEFAULT_CHANNEL_LIMITS, { maxFrameBytes: bad })).toThrow(
        RangeError,
      );
    }
    expect(resolveLimits(DEFAULT_CHANNEL_LIMITS, { maxFrameBytes: FLOOR })).toEqual({
      maxFrameBytes: FLOOR,
      maxMessageBytes: DEFAULT_CHANNEL_LIMITS.maxMessageBytes,
    });
    const { client, server } = await securePair();
    expect(() => client.channel.setLimits({ maxFrameBytes: FLOOR - 1 })).toThrow(RangeError);
    client.channel.close();
    server.channel.close();
  });

  it('a sender at the floor fills every continuation frame with 1007 bytes', async () => {
    const { peer, channel } = await scriptedPair();
    channel.setLimits({ maxFrameBytes: FLOOR });
    record(channel);
    const message = bytes(10 * CONTINUED_MIN + 5);
    channel.send(message);
    const bodies: Uint8Array[] = [];
    for (;;) {
      const frame = await peer.readFrame();
      expect(frame).toBeDefined();
      bodies.push(frame!.body);
      if (frame!.type === FrameType.DATA) break;
      expect(frame!.type).toBe(FrameType.DATA_CONTINUED);
      expect(frame!.body.length).toBe(CONTINUED_MIN);
    }
    expect(bodies.length).toBe(11);
    expect(Buffer.concat(bodies).equals(message)).toBe(true);
    channel.close();
  });
});

describe('short DATA_CONTINUED frames are refused', () => {
  it('regression: empty continuations before authentication close the channel at once', async () => {
    // Each was 19 bytes on the wire and one more piece held, without counting towards
    // maxMessageBytes: a peer could grow our memory without bound before authenticating.
    const { peer, channel } = await scriptedPair();
    const rec = record(channel);
    const frames: Uint8Array[] = [];
    for (let i = 0; i < 1000; i++) {
      frames.push(peer.sealFrame(FrameType.DATA_CONTINUED, new Uint8Array(0)));
    }
    frames.push(peer.sealFrame(FrameType.DATA, Uint8Array.of(1)));
    peer.writeRaw(Buffer.concat(frames));
    const outcome = await closedWithin(rec.closed);
    expect(outcome).toBeInstanceOf(ChannelError);
    expect((outcome as Error).message).toMatch(/DATA_CONTINUED frame carries 0 bytes/);
    expect(rec.messages).toEqual([]);
    expect(channel.closed).toBe(true);
  });

  it('after authentication, a continuation one byte short of the minimum closes the channel', async () => {
    const { peer, channel } = await scriptedPair();
    channel.setLimits();
    const rec = record(channel);
    peer.writeRaw(peer.sealFrame(FrameType.DATA_CONTINUED, new Uint8Array(CONTINUED_MIN)));
    peer.writeRaw(peer.sealFrame(FrameType.DATA_CONTINUED, new Uint8Array(CONTINUED_MIN - 1)));
    peer.writeRaw(peer.sealFrame(FrameType.DATA, Uint8Array.of(1)));
    const outcome = await closedWithin(rec.closed);
    expect(outcome).toBeInstanceOf(ChannelError);
    expect((outcome as Error).message).toMatch(/carries 1006 bytes; .* at least 1007/);
    expect(rec.messages).toEqual([]);
  });

  it('continuations of exactly the minimum are joined, and the last DATA frame may be empty', async () => {
    const { peer, channel } = await scriptedPair();
    const rec = record(channel);
    const a = bytes(CONTINUED_MIN, 1);
    const b = bytes(CONTINUED_MIN, 2);
    peer.writeRaw(peer.sealFrame(FrameType.DATA_CONTINUED, a));
    peer.writeRaw(peer.sealFrame(FrameType.DATA_CONTINUED, b));
    peer.writeRaw(peer.sealFrame(FrameType.DATA, new Uint8Array(0)));
    peer.writeRaw(peer.sealFrame(FrameType.DATA, Uint8Array.of(9)));
    const [joined, next] = await firstMessages(rec, 2);
    expect(Buffer.from(joined!).equals(Buffer.concat([a, b]))).toBe(true);
    expect(next).toEqual(Uint8Array.of(9));
    channel.close();
  });
});

describe('the received-frame cap', () => {
  it('before setLimits() is the pre-authentication maxFrameBytes', async () => {
    const cap = DEFAULT_PREAUTH_CHANNEL_LIMITS.maxFrameBytes;
    const atCap = await scriptedPair();
    const recAtCap = record(atCap.channel);
    atCap.peer.writeRaw(atCap.peer.sealFrame(FrameType.DATA, bytes(cap - TAG_AND_TYPE)));
    expect((await firstMessages(recAtCap, 1))[0]!.length).toBe(cap - TAG_AND_TYPE);
    atCap.channel.close();

    const over = await scriptedPair();
    const recOver = record(over.channel);
    over.peer.writeRaw(over.peer.sealFrame(FrameType.DATA, bytes(cap - TAG_AND_TYPE + 1)));
    const outcome = await closedWithin(recOver.closed);
    expect(outcome).toBeInstanceOf(ChannelError);
    expect((outcome as Error).message).toMatch(/frame of 16385 bytes exceeds the limit of 16384/);
    expect(recOver.messages).toEqual([]);
  });

  it('after setLimits() is 65535 whatever maxFrameBytes we send with', async () => {
    const { peer, channel } = await scriptedPair();
    channel.setLimits({ maxFrameBytes: 2048 });
    const rec = record(channel);
    const big = bytes(NOISE_MAX - TAG_AND_TYPE);
    peer.writeRaw(peer.sealFrame(FrameType.DATA, big));
    expect(Buffer.from((await firstMessages(rec, 1))[0]!).equals(big)).toBe(true);
    // What we send still keeps to our own 2048.
    channel.send(bytes(5000));
    const sizes: number[] = [];
    for (;;) {
      const raw = await peer.readRaw();
      expect(raw).toBeDefined();
      sizes.push(raw!.length);
      if (sizes.length === 3) break;
    }
    expect(sizes).toEqual([2048, 2048, 5000 - 2 * (2048 - TAG_AND_TYPE) + TAG_AND_TYPE]);
    channel.close();
  });

  it('regression: peers with different frame limits exchange large messages both ways', async () => {
    // The server lowers its frame limit when it raises its other limits; the client keeps
    // the default 65535. Each frames to its own limit and accepts the other's frames.
    const { client, server } = await securePair();
    server.channel.setLimits({ ...DEFAULT_CHANNEL_LIMITS, maxFrameBytes: 2048 });
    client.channel.setLimits();
    const sizes = [0, 1, 2048 - TAG_AND_TYPE, 2048 - TAG_AND_TYPE + 1, 65518, 65519, 300_000];
    const echo = (channel: SecureChannel) => (m: Uint8Array) => {
      if (!channel.closed) channel.send(m.slice());
    };
    const atServer = record(server.channel, echo(server.channel));
    const atClient = record(client.channel);
    for (const [i, n] of sizes.entries()) client.channel.send(bytes(n, i));
    const echoed = await Promise.race([firstMessages(atClient, sizes.length), closing(atServer)]);
    expect(echoed.map((m) => m.length)).toEqual(sizes);
    for (const [i, n] of sizes.entries()) {
      expect(Buffer.from(echoed[i]!).equals(bytes(n, i))).toBe(true);
      expect(Buffer.from(atServer.messages[i]!).equals(bytes(n, i))).toBe(true);
    }
    client.channel.close();
    expect(await atClient.closed).toBeUndefined();
    expect(await atServer.closed).toBeUndefined();
  });
});
