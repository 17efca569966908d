/**
 * The secure channel over loopback TCP: messages of every size both ways on both
 * providers, queueing before start, close rules, limits before and after authentication,
 * rekeying, and the handshake driver's ordering guarantees.
 */
import { once } from 'node:events';
import { Duplex } from 'node:stream';
import { describe, expect, it, vi } from 'vitest';
import { DEFAULT_CHANNEL_LIMITS } from '../src/channel/channel-options.js';
import { FrameReader } from '../src/channel/frame-reader.js';
import { keywayPrologue, performHandshake } from '../src/channel/perform-handshake.js';
import { FrameType, SecureChannel } from '../src/channel/secure-channel.js';
import { nobleCryptoProvider } from '../src/crypto/noble-provider.js';
import { nodeCryptoProvider } from '../src/crypto/node-provider.js';
import type { CryptoProvider } from '../src/crypto/provider.js';
import { AuthenticationError, ChannelError, HandshakeError, HostKeyError } from '../src/errors.js';
import { CipherState } from '../src/noise/cipher-state.js';
import { PROLOGUE, record, scriptedPair, securePair, tcpPair } from './channel-helpers.js';

const bytes = (n: number, seed = 1): Uint8Array => {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
};

describe.each([nodeCryptoProvider, nobleCryptoProvider])('secure channel on $name', (provider) => {
  it('agrees on the handshake hash and proves each static key', async () => {
    const { client, server, clientKey, serverKey } = await securePair({ provider });
    expect(client.handshakeHash).toEqual(server.handshakeHash);
    expect(client.channel.handshakeHash).toEqual(client.handshakeHash);
    expect(client.remoteStatic).toEqual(serverKey.publicKey);
    expect(server.remoteStatic).toEqual(clientKey.publicKey);
    expect(server.channel.remoteStatic).toEqual(clientKey.publicKey);
    expect(client.channel.remoteAddress).toMatch(/^127\.0\.0\.1:\d+$/);
    client.channel.close();
    server.channel.close();
  });

  it('carries messages of every size both ways, in order, split and reassembled', async () => {
    const { client, server } = await securePair({ provider });
    client.channel.setLimits();
    server.channel.setLimits();
    const sizes = [0, 1, 65535 - 17, 65535 - 16, 200_000, 5];
    const atServer = record(server.channel, (m) => server.channel.send(m));
    const atClient = record(client.channel);
    for (const [i, n] of sizes.entries()) client.channel.send(bytes(n, i));
    const echoed = await atClient.waitFor(sizes.length);
    expect(echoed.map((m) => m.length)).toEqual(sizes);
    // Buffer.equals: a deep toEqual over 200 kB is needlessly slow.
    for (const [i, n] of sizes.entries()) {
      expect(Buffer.from(echoed[i]!).equals(bytes(n, i))).toBe(true);
    }
    expect(atServer.messages.length).toBe(sizes.length);
    client.channel.close();
    expect(await atClient.closed).toBeUndefined();
    expect(await atServer.closed).toBeUndefined();
  });
});

describe('secure channel rules', () => {
  it('batches every frame sent in one tick into a single writev', async () => {
    const writes: number[] = [];
    const stream = new Duplex({
      read() {},
      write(_chunk, _enc, cb) {
        writes.push(1);
        cb();
      },
      writev(chunks, cb) {
        writes.push(chunks.length);
        cb();
      },
    });
    const key = new Uint8Array(32).fill(9);
    const channel = new SecureChannel({
      stream,
      send: new CipherState(nodeCryptoProvider, key),
      receive: new CipherState(nodeCryptoProvider, key),
      handshakeHash: new Uint8Array(32),
      remoteStatic: new Uint8Array(32),
      reader: new FrameReader(65535),
    });
    channel.send(Uint8Array.of(1));
    channel.send(Uint8Array.of(2));
    channel.send(new Uint8Array(40_000)); // three 16 KiB frames before authentication
    await new Promise((r) => setImmediate(r));
    // Four frames (a BATCH of the two small messages, three pieces of the large one) in
    // one writev call.
    expect(writes.length).toBe(1);
    expect(writes[0]).toBeGreaterThanOrEqual(4);
  });

  it('regression: a BATCH frame above 16 KiB flushed at the end of a tick leaves in one writev', async () => {
    const writes: number[] = [];
    const stream = new Duplex({
      read() {},
      write(_chunk, _enc, cb) {
        writes.push(1);
        cb();
      },
      writev(chunks, cb) {
        writes.push(chunks.length);
        cb();
      },
    });
    const key = new Uint8Array(32).fill(9);
    const channel = new SecureChannel({
      stream,
      send: new CipherState(nodeCryptoProvider, key),
      receive: new CipherState(nodeCryptoProvider, key),
      handshakeHash: new Uint8Array(32),
      remoteStatic: new Uint8Array(32),
      reader: new FrameReader(65535),
    });
    channel.setLimits();
    // 1,000 messages of 30 bytes: one BATCH frame of 32,000 bytes.
    for (let i = 0; i < 1000; i++) channel.send(new Uint8Array(30).fill(i & 0xff));
    await new Promise((r) => setImmediate(r));
    // Header, ciphertext and tag: three chunks in one call, not three writes.
    expect(writes).toEqual([3]);
  });

  it('writes a lone small message as one buffer in one write, header and tag included', async () => {
    const writes: Buffer[][] = [];
    const stream = new Duplex({
      read() {},
      write(chunk, _enc, cb) {
        writes.push([chunk]);
        cb();
      },
      writev(chunks, cb) {
        writes.push(chunks.map((c) => c.chunk));
        cb();
      },
    });
    const key = new Uint8Array(32).fill(9);
    const channel = new SecureChannel({
      stream,
      send: new CipherState(nodeCryptoProvider, key),
      receive: new CipherState(nodeCryptoProvider, key),
      handshakeHash: new Uint8Array(32),
      remoteStatic: new Uint8Array(32),
      reader: new FrameReader(65535),
    });
    const message = Uint8Array.of(9, 8, 7, 6, 5);
    channel.send(message);
    await new Promise((r) => setImmediate(r));
    expect(writes.map((w) => w.length)).toEqual([1]);
    const frame = writes[0]![0]!;
    expect(frame.length).toBe(2 + 1 + message.length + 16);
    expect(frame.readUInt16BE(0)).toBe(1 + message.length + 16);
    // The frame opens with the peer's cipher state to a DATA frame of the message.
    const plain = new CipherState(nodeCryptoProvider, key).decryptWithAd(
      new Uint8Array(0),
      new Uint8Array(frame.subarray(2)),
    );
    expect([...plain]).toEqual([0, ...message]);
  });

  it('queues messages that arrive before start() and delivers them first', async () => {
    const { client, server } = await securePair();
    for (let i = 0; i < 5; i++) server.channel.send(Uint8Array.of(i));
    server.channel.close();
    await new Promise((r) => setTimeout(r, 50));
    const rec = record(client.channel);
    expect(await rec.closed).toBeUndefined();
    expect(rec.messages.map((m) => m[0])).toEqual([0, 1, 2, 3, 4]);
  });

  it('stop() hands the channel from one receiver to the next without losing or reordering', async () => {
    const { client, server } = await securePair();
    // The "authenticator" takes the first two messages, then hands the channel over.
    const first: number[] = [];
    await new Promise<void>((resolve) => {
      server.channel.start({
        onMessage(data) {
          first.push(data[0]!);
          if (first.length === 2) {
            server.channel.stop();
            resolve();
          }
        },
        onClose() {},
      });
      for (let i = 0; i < 6; i++) client.channel.send(Uint8Array.of(i));
    });
    await new Promise((r) => setTimeout(r, 20));
    client.channel.close();
    const rest = record(server.channel);
    expect(await rest.closed).toBeUndefined();
    expect(first).toEqual([0, 1]);
    expect(rest.messages.map((m) => m[0])).toEqual([2, 3, 4, 5]);
    expect(() => server.channel.start({ onMessage() {}, onClose() {} })).toThrow(ChannelError);
  });

  it('close() is idempotent, tells both receivers, and refuses later sends', async () => {
    const { client, server } = await securePair();
    const a = record(client.channel);
    const b = record(server.channel);
    client.channel.close();
    client.channel.close();
    expect(await a.closed).toBeUndefined();
    expect(await b.closed).toBeUndefined();
    expect(client.channel.closed && server.channel.closed).toBe(true);
    expect(() => client.channel.send(Uint8Array.of(1))).toThrow(ChannelError);
  });

  it('destroys the stream when the peer never ends its half after our CLOSE', async () => {
    const {
      peer,
      channel,
      peerSocket: a,
      socket: b,
    } = await scriptedPair({ closeGraceMs: 100 }, true);
    const socketClosed = once(b, 'close');
    record(channel);
    channel.close();
    expect((await peer.readFrame())?.type).toBe(FrameType.CLOSE);
    // The scripted peer keeps its half open; the grace period ends the socket anyway.
    await socketClosed;
    expect(b.destroyed).toBe(true);
    a.destroy();
  });

  it('close(error) reaches the peer as a ChannelError without the error text', async () => {
    const { client, server } = await securePair();
    const a = record(client.channel);
    const b = record(server.channel);
    client.channel.close(new Error('secret reason'));
    expect(await a.closed).toBeInstanceOf(Error);
    const peerError = await b.closed;
    expect(peerError).toBeInstanceOf(ChannelError);
    expect(peerError?.message).not.toContain('secret');
  });

  it('keeps pre-authentication limits until setLimits() raises them', async () => {
    const { client, server } = await securePair();
    expect(client.channel.limits.maxMessageBytes).toBeLessThan(
      DEFAULT_CHANNEL_LIMITS.maxMessageBytes,
    );
    expect(() => client.channel.send(new Uint8Array(64 * 1024 + 1))).toThrow(RangeError);
    const rec = record(server.channel);
    client.channel.send(new Uint8Array(64 * 1024)); // at the limit: many 16 KiB frames
    await rec.waitFor(1);
    client.channel.setLimits();
    server.channel.setLimits();
    client.channel.send(new Uint8Array(1 << 20));
    expect((await rec.waitFor(2))[1]!.length).toBe(1 << 20);
    expect(() => client.channel.setLimits({ maxFrameBytes: 70000 })).toThrow(RangeError);
    client.channel.close();
  });

  it('rekeys one-way after the frame threshold: REKEY frames at the right places', async () => {
    // One frame per message, so that the frame count is the message count.
    const { peer, channel } = await scriptedPair({ rekey: { afterFrames: 3 }, batch: false });
    record(channel);
    for (let i = 0; i < 7; i++) channel.send(Uint8Array.of(i));
    const types: number[] = [];
    const data: number[] = [];
    for (let i = 0; i < 9; i++) {
      const frame = (await peer.readFrame())!;
      types.push(frame.type);
      if (frame.type === FrameType.REKEY) peer.receive.rekey();
      else data.push(frame.body[0]!);
    }
    const D = FrameType.DATA;
    const R = FrameType.REKEY;
    expect(types).toEqual([D, D, D, R, D, D, D, R, D]);
    expect(data).toEqual([0, 1, 2, 3, 4, 5, 6]);
    channel.close();
  });

  it.each([
    ['bytes', { afterBytes: 2 }, 0],
    ['time', { afterMs: 1 }, 5],
  ] as const)('rekeys after the %s threshold', async (_name, rekey, waitMs) => {
    const { peer, channel } = await scriptedPair({ rekey });
    record(channel);
    const data: number[] = [];
    let rekeys = 0;
    for (let i = 0; i < 4; i++) {
      if (waitMs) await new Promise((r) => setTimeout(r, waitMs));
      channel.send(Uint8Array.of(i));
      for (;;) {
        const frame = (await peer.readFrame())!;
        if (frame.type !== FrameType.REKEY) {
          data.push(frame.body[0]!);
          break;
        }
        rekeys++;
        peer.receive.rekey();
      }
    }
    expect(data).toEqual([0, 1, 2, 3]);
    // 1-byte messages: a rekey after every second frame; or one before each late frame.
    expect(rekeys).toBe(waitMs ? 4 : 1);
    channel.close();
  });

  it('rekeys both ways by frames, bytes and time, and keeps every message intact', async () => {
    const { client, server } = await securePair({
      initiator: { channel: { rekey: { afterFrames: 2, afterBytes: 10 } } },
      responder: { channel: { rekey: { afterMs: 1 } } },
    });
    const echo = record(server.channel, (m) => server.channel.send(m));
    const back = record(client.channel);
    for (let i = 0; i < 12; i++) {
      client.channel.send(bytes(20 + i, i));
      client.channel.ping();
      await new Promise((r) => setTimeout(r, 2));
    }
    const got = await back.waitFor(12);
    for (let i = 0; i < 12; i++) expect(got[i]).toEqual(bytes(20 + i, i));
    expect(echo.messages.length).toBe(12);
    client.channel.close();
    expect(await back.closed).toBeUndefined();
  });

  it('the initiator checks the responder before sending message 3: a refused server never sees the client key', async () => {
    const [a, b] = await tcpPair();
    let serverSawClient = false;
    const results = await Promise.allSettled([
      performHandshake(a, {
        role: 'initiator',
        staticKeyPair: nodeCryptoProvider.generateKeyPair(),
        prologue: PROLOGUE,
        localPayload: new TextEncoder().encode('client identity'),
        verifyRemote: async () => {
          await new Promise((r) => setTimeout(r, 10));
          throw new HostKeyError('unknown host key');
        },
      }),
      performHandshake(b, {
        role: 'responder',
        staticKeyPair: nodeCryptoProvider.generateKeyPair(),
        prologue: PROLOGUE,
        verifyRemote: () => {
          serverSawClient = true;
        },
      }),
    ]);
    expect(results[0].status === 'rejected' && results[0].reason).toBeInstanceOf(HostKeyError);
    expect(results[1].status === 'rejected' && results[1].reason).toBeInstanceOf(HandshakeError);
    expect(serverSawClient).toBe(false);
  });

  it("hands each side the other one's payload, and a responder refusal ends the client channel", async () => {
    const [a, b] = await tcpPair();
    const enc = new TextEncoder();
    const seen: string[] = [];
    const [client, server] = await Promise.allSettled([
      performHandshake(a, {
        role: 'initiator',
        staticKeyPair: nodeCryptoProvider.generateKeyPair(),
        prologue: PROLOGUE,
        localPayload: enc.encode('from client'),
        verifyRemote: (_k, p) => void seen.push(new TextDecoder().decode(p)),
      }),
      performHandshake(b, {
        role: 'responder',
        staticKeyPair: nodeCryptoProvider.generateKeyPair(),
        prologue: PROLOGUE,
        localPayload: enc.encode('from server'),
        verifyRemote: (_k, p) => {
          seen.push(new TextDecoder().decode(p));
          throw new AuthenticationError('key not in authorized_keys');
        },
      }),
    ]);
    expect(seen.sort()).toEqual(['from client', 'from server']);
    expect(server.status === 'rejected' && server.reason).toBeInstanceOf(AuthenticationError);
    if (client.status !== 'fulfilled') throw new Error('client handshake should complete');
    expect(await record(client.value.channel).closed).toBeInstanceOf(ChannelError);
  });

  it('a prologue mismatch (other mode) fails the handshake on both sides', async () => {
    const [a, b] = await tcpPair();
    const results = await Promise.allSettled([
      performHandshake(a, {
        role: 'initiator',
        staticKeyPair: nodeCryptoProvider.generateKeyPair(),
        prologue: keywayPrologue('publickey'),
        verifyRemote: () => {},
      }),
      performHandshake(b, {
        role: 'responder',
        staticKeyPair: nodeCryptoProvider.generateKeyPair(),
        prologue: keywayPrologue('anonymous'),
        verifyRemote: () => {},
      }),
    ]);
    for (const r of results)
      expect(r.status === 'rejected' && r.reason).toBeInstanceOf(HandshakeError);
  });

  it('validates its options at the boundary', async () => {
    const [a] = await tcpPair();
    const base = {
      role: 'initiator' as const,
      staticKeyPair: nodeCryptoProvider.generateKeyPair(),
      verifyRemote: () => {},
    };
    await expect(performHandshake(a, { ...base, prologue: new Uint8Array(3) })).rejects.toThrow(
      TypeError,
    );
    await expect(
      performHandshake(a, { ...base, prologue: PROLOGUE, timeoutMs: 0 }),
    ).rejects.toThrow(RangeError);
    a.destroy();
  });
});

describe('a custom crypto provider', () => {
  /** Wraps the node provider, counting AEAD calls; sealing throws while `failing`. */
  function wrapped() {
    const state = { failing: false, seals: 0, opens: 0 };
    const provider: CryptoProvider = {
      ...nodeCryptoProvider,
      name: 'wrapped',
      seal(key, nonce, ad, plaintext) {
        state.seals++;
        return nodeCryptoProvider.seal(key, nonce, ad, plaintext);
      },
      sealParts(key, nonce, ad, parts) {
        state.seals++;
        if (state.failing) throw new ChannelError('sealing refused');
        return nodeCryptoProvider.sealParts(key, nonce, ad, parts);
      },
      open(key, nonce, ad, sealed) {
        state.opens++;
        return nodeCryptoProvider.open(key, nonce, ad, sealed);
      },
      openParts(key, nonce, ad, sealed) {
        state.opens++;
        return nodeCryptoProvider.openParts!(key, nonce, ad, sealed);
      },
    };
    return { provider, state };
  }

  it('seals and opens every frame, small ones included', async () => {
    const { provider, state } = wrapped();
    const { client, server } = await securePair({ provider });
    const got = record(server.channel);
    record(client.channel);
    const seals = state.seals;
    const opens = state.opens;
    for (let i = 0; i < 5; i++) client.channel.send(Uint8Array.of(i));
    client.channel.send(bytes(20));
    await got.waitFor(6);
    // One BATCH frame for the five, one DATA frame: each sealed and opened by the provider.
    expect(state.seals - seals).toBe(1);
    expect(state.opens - opens).toBe(1);
    client.channel.close();
    server.channel.close();
  });

  it('leaves no plaintext in the pooled frame when sealing throws', async () => {
    const { provider, state } = wrapped();
    const { client, server } = await securePair({
      provider,
      initiator: { channel: { batch: false } },
    });
    record(server.channel);
    record(client.channel);
    const secret = new Uint8Array(40).fill(0xa5);
    const frames: Uint8Array[] = [];
    const allocUnsafe = Buffer.allocUnsafe;
    const spy = vi.spyOn(Buffer, 'allocUnsafe').mockImplementation((n: number) => {
      const frame = allocUnsafe(n);
      frames.push(frame);
      return frame;
    });
    try {
      state.failing = true;
      expect(() => client.channel.send(secret)).toThrow('sealing refused');
    } finally {
      spy.mockRestore();
      state.failing = false;
    }
    const frame = frames.find((f) => f.length === 2 + 1 + secret.length + 16);
    expect(frame).toBeDefined();
    expect(frame!.every((b) => b === 0)).toBe(true);
    client.channel.close();
    server.channel.close();
  });
});
