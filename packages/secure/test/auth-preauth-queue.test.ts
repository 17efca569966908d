/**
 * The bound on what a client may send before the server's verdict (docs/security.md,
 * "Authentication"): a flood while the authenticators run closes that connection with
 * ChannelError and nothing piles up; honest exchanges and pipelining after OK still work.
 */
import { x25519 } from '@noble/curves/ed25519.js';
import { afterEach, describe, expect, it } from 'vitest';
import {
  DEFAULT_AUTH_QUEUE_LIMITS,
  MessageReader,
  type MessageReceiver,
  type MessageTransport,
  resolveAuthQueueLimits,
} from '../src/auth/message-reader.js';
import { KEYWAY_PROLOGUE } from '../src/auth/server-session.js';
import { encodeClientHello, encodeClientHelloBody } from '../src/auth/wire.js';
import { UsageError } from '../src/errors.js';
import {
  type AcceptedConnection,
  type Authenticator,
  AuthorizedKeys,
  anonymousAuth,
  ChannelError,
  clientHandshake,
  compose,
  generateIdentity,
  KnownHosts,
  performHandshake,
  publicKeyAuth,
} from '../src/index.js';
import { dial, login, type Rig, roundTrip, startRig } from './auth-helpers.js';

/** A transport whose receiver the test drives by hand, recording what the reader does. */
class ScriptedTransport implements MessageTransport {
  receiver: MessageReceiver | undefined;
  closedWith: { error: Error | undefined } | undefined;
  readonly sent: Uint8Array[] = [];
  send(data: Uint8Array): void {
    this.sent.push(data);
  }
  start(receiver: MessageReceiver): void {
    this.receiver = receiver;
  }
  close(error?: Error): void {
    this.closedWith ??= { error };
  }
  deliver(data: Uint8Array): void {
    this.receiver?.onMessage(data);
  }
}

const hostKey = generateIdentity('host');
const bytes = (n: number, fill = 0) => new Uint8Array(n).fill(fill);

describe('MessageReader bounds before the verdict', () => {
  it('keeps up to maxMessages unread, and closes with ChannelError on one more', async () => {
    const transport = new ScriptedTransport();
    const reader = new MessageReader(transport);
    const max = DEFAULT_AUTH_QUEUE_LIMITS.maxMessages;
    for (let i = 0; i < max; i++) transport.deliver(Uint8Array.of(i));
    expect(transport.closedWith).toBeUndefined();
    transport.deliver(Uint8Array.of(max));
    expect(transport.closedWith?.error).toBeInstanceOf(ChannelError);
    expect(transport.closedWith?.error).toMatchObject({ code: 'ERR_CHANNEL' });
    expect(reader.limitError).toBe(transport.closedWith?.error);
    // The queue is dropped, not served: the next read fails with the same error.
    await expect(reader.next()).rejects.toBe(reader.limitError);
    // What a closed channel still delivers is not kept.
    transport.deliver(bytes(10));
    await expect(reader.next()).rejects.toBe(reader.limitError);
  });

  it('closes when the unread bytes pass maxBytes, even in few messages', () => {
    const transport = new ScriptedTransport();
    const reader = new MessageReader(transport, { limits: { maxBytes: 1000 } });
    transport.deliver(bytes(600));
    transport.deliver(bytes(400));
    expect(transport.closedWith).toBeUndefined();
    transport.deliver(bytes(1));
    expect(reader.limitError).toBeInstanceOf(ChannelError);
    expect(transport.closedWith?.error).toBe(reader.limitError);
  });

  it('counts only what waits: messages read as they come never trip the bound', async () => {
    const transport = new ScriptedTransport();
    const reader = new MessageReader(transport, { limits: { maxMessages: 2, maxBytes: 100 } });
    for (let i = 0; i < 50; i++) {
      const read = reader.next();
      transport.deliver(bytes(90, i));
      expect((await read)[0]).toBe(i);
    }
    // Queued then read: the bytes are given back.
    for (let i = 0; i < 50; i++) {
      transport.deliver(bytes(90, i));
      expect((await reader.next())[0]).toBe(i);
    }
    expect(transport.closedWith).toBeUndefined();
  });

  it('rejects a pending next() when the bound closes the transport', async () => {
    const transport = new ScriptedTransport();
    const reader = new MessageReader(transport, { limits: { maxMessages: 1 } });
    transport.deliver(Uint8Array.of(1));
    transport.deliver(Uint8Array.of(2));
    const error = reader.limitError;
    expect(error).toBeInstanceOf(ChannelError);
    await expect(reader.next()).rejects.toBe(error);
  });

  it('does not bound the queue after handoff(): calls pipelined behind OK all arrive', () => {
    const transport = new ScriptedTransport();
    const reader = new MessageReader(transport);
    const downstream = reader.handoff();
    for (let i = 0; i < 1000; i++) transport.deliver(bytes(1024, i & 0xff));
    expect(transport.closedWith).toBeUndefined();
    const got: Uint8Array[] = [];
    downstream.start({ onMessage: (d) => got.push(d), onClose: () => {} });
    expect(got).toHaveLength(1000);
    expect(got[999]?.[0]).toBe(999 & 0xff);
  });

  it('lifts the bound from the message that ends authentication on (the client side)', () => {
    const transport = new ScriptedTransport();
    const reader = new MessageReader(transport, {
      limits: { maxMessages: 2 },
      endsAuthentication: (m) => m[0] === 0x01,
    });
    transport.deliver(Uint8Array.of(0x01));
    for (let i = 0; i < 100; i++) transport.deliver(Uint8Array.of(0x42));
    expect(transport.closedWith).toBeUndefined();
    expect(reader.limitError).toBeUndefined();
  });

  it('counts PING and REKEY frames against maxMessages: they never leave the queue', async () => {
    const transport = new ScriptedTransport();
    const reader = new MessageReader(transport, { limits: { maxMessages: 4 } });
    transport.deliver(Uint8Array.of(1));
    reader.onControlFrame('ping');
    reader.onControlFrame('rekey');
    reader.onControlFrame('ping');
    expect(transport.closedWith).toBeUndefined();
    // Reading the message frees its place; the control frames keep theirs.
    expect((await reader.next())[0]).toBe(1);
    reader.onControlFrame('ping');
    expect(transport.closedWith).toBeUndefined();
    reader.onControlFrame('ping');
    expect(reader.limitError).toBeInstanceOf(ChannelError);
    expect(transport.closedWith?.error).toBe(reader.limitError);
  });

  it('does not count control frames after handoff(), and passes them on', () => {
    const transport = new ScriptedTransport();
    const reader = new MessageReader(transport, { limits: { maxMessages: 1 } });
    const downstream = reader.handoff();
    for (let i = 0; i < 100; i++) reader.onControlFrame('ping');
    expect(transport.closedWith).toBeUndefined();
    const seen: string[] = [];
    downstream.start({
      onMessage: () => {},
      onClose: () => {},
      onControlFrame: (type) => seen.push(type),
    });
    reader.onControlFrame('rekey');
    expect(seen).toEqual(['rekey']);
  });

  it('validates its bounds', () => {
    expect(resolveAuthQueueLimits()).toEqual({ maxMessages: 16, maxBytes: 64 * 1024 });
    expect(resolveAuthQueueLimits({ maxMessages: 4 })).toEqual({
      maxMessages: 4,
      maxBytes: 64 * 1024,
    });
    for (const bad of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => resolveAuthQueueLimits({ maxMessages: bad })).toThrow(RangeError);
      expect(() => resolveAuthQueueLimits({ maxBytes: bad })).toThrow(RangeError);
    }
  });

  it('throws UsageError (ERR_USAGE) on misuse, not a plain Error', async () => {
    const transport = new ScriptedTransport();
    const reader = new MessageReader(transport);
    const first = reader.next();
    await expect(reader.next()).rejects.toThrow(UsageError);
    await expect(reader.next()).rejects.toMatchObject({ code: 'ERR_USAGE' });
    transport.deliver(Uint8Array.of(1));
    await first;
    const downstream = reader.handoff();
    expect(() => reader.handoff()).toThrow(UsageError);
    downstream.start({ onMessage: () => {}, onClose: () => {} });
    expect(() => downstream.start({ onMessage: () => {}, onClose: () => {} })).toThrow(
      expect.objectContaining({ code: 'ERR_USAGE', message: 'transport already started' }),
    );
  });
});

function knownHostsFor(port: number): KnownHosts {
  const known = KnownHosts.parse('');
  known.add('127.0.0.1', port, hostKey.publicKey);
  return known;
}

/** Resolves when `stream` ends or closes, or with 'still open' after `ms`. */
function closedWithin(stream: NodeJS.EventEmitter, ms: number): Promise<'closed' | 'still open'> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('still open'), ms);
    const done = () => {
      clearTimeout(timer);
      resolve('closed');
    };
    stream.once('close', done);
    stream.once('end', done);
  });
}

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

describe('a client that floods the server before the verdict', () => {
  it('is cut off with ChannelError while the authenticators still run; others get in', async () => {
    // The second step of the chain stands for a slow check (a directory lookup): for the
    // first connection it waits until the test lets it go.
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let calls = 0;
    const slowCheck: Authenticator = async (stream, context) => {
      if (calls++ === 0) await gate;
      return { stream, credentials: { remoteAddress: context.remoteAddress, methods: ['slow'] } };
    };
    rig = await startRig(compose(anonymousAuth({ identity: hostKey }), slowCheck));

    const socket = await dial(rig.port);
    socket.on('error', () => {});
    const secretKey = x25519.utils.randomSecretKey();
    const { channel } = await performHandshake(socket, {
      role: 'initiator',
      staticKeyPair: { secretKey, publicKey: x25519.getPublicKey(secretKey) },
      prologue: KEYWAY_PROLOGUE,
      localPayload: encodeClientHello(encodeClientHelloBody({})),
      verifyRemote: () => {},
    });
    let serverSaid: Error | undefined | 'nothing' = 'nothing';
    channel.start({ onMessage: () => {}, onClose: (e) => (serverSaid = e) });
    const closed = closedWithin(socket, 5000);
    // Empty messages sent in one tick leave as BATCH frames: thousands per 16 KiB frame.
    let sent = 0;
    for (let round = 0; round < 40 && !channel.closed; round++) {
      for (let i = 0; i < 2000; i++) channel.send(new Uint8Array(0));
      sent += 2000;
      await new Promise((r) => setImmediate(r));
    }
    expect(await closed).toBe('closed');
    expect(sent).toBeGreaterThan(DEFAULT_AUTH_QUEUE_LIMITS.maxMessages);
    // The server closed with an error (the peer learns that, never the text).
    expect(serverSaid).toBeInstanceOf(ChannelError);

    // Another client gets in while the flooder's authenticator is still parked.
    const other = await login(rig.port, { knownHosts: knownHostsFor(rig.port) });
    const otherServer = (await rig.accepted[1]) as AcceptedConnection;
    expect(await roundTrip(other, otherServer.transport, 'still serving')).toBe('still serving');
    other.close();

    release();
    const flooded = await rig.accepted[0];
    expect(flooded).toBeInstanceOf(ChannelError);
    expect((flooded as ChannelError).message).toMatch(/before authentication finished/);
  });

  it('a flood of PINGs before the verdict closes the connection', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let arrived!: () => void;
    const authenticating = new Promise<void>((r) => {
      arrived = r;
    });
    const parked: Authenticator = async (stream, context) => {
      arrived();
      await gate;
      return { stream, credentials: { remoteAddress: context.remoteAddress, methods: ['parked'] } };
    };
    rig = await startRig(compose(anonymousAuth({ identity: hostKey }), parked));
    const socket = await dial(rig.port);
    socket.on('error', () => {});
    const secretKey = x25519.utils.randomSecretKey();
    const { channel } = await performHandshake(socket, {
      role: 'initiator',
      staticKeyPair: { secretKey, publicKey: x25519.getPublicKey(secretKey) },
      prologue: KEYWAY_PROLOGUE,
      localPayload: encodeClientHello(encodeClientHelloBody({})),
      verifyRemote: () => {},
    });
    let serverSaid: Error | undefined | 'nothing' = 'nothing';
    channel.start({ onMessage: () => {}, onClose: (e) => (serverSaid = e) });
    await authenticating;
    const closed = closedWithin(socket, 3000);
    // PINGs carry no message: only counting them stops the flood.
    let sent = 0;
    for (let round = 0; round < 20 && !channel.closed; round++) {
      for (let i = 0; i < 50 && !channel.closed; i++) {
        channel.ping();
        sent++;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(await closed).toBe('closed');
    expect(sent).toBeGreaterThan(DEFAULT_AUTH_QUEUE_LIMITS.maxMessages);
    expect(serverSaid).toBeInstanceOf(ChannelError);
    release();
    const flooded = await rig.accepted[0];
    expect(flooded).toBeInstanceOf(ChannelError);
    expect((flooded as ChannelError).message).toMatch(/before authentication finished/);
  });

  it('REKEY frames before the verdict count too: few messages with a rekey before each', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let arrived!: () => void;
    const authenticating = new Promise<void>((r) => {
      arrived = r;
    });
    const parked: Authenticator = async (stream, context) => {
      arrived();
      await gate;
      return { stream, credentials: { remoteAddress: context.remoteAddress, methods: ['parked'] } };
    };
    rig = await startRig(compose(anonymousAuth({ identity: hostKey }), parked));
    const socket = await dial(rig.port);
    socket.on('error', () => {});
    const secretKey = x25519.utils.randomSecretKey();
    const { channel } = await performHandshake(socket, {
      role: 'initiator',
      staticKeyPair: { secretKey, publicKey: x25519.getPublicKey(secretKey) },
      prologue: KEYWAY_PROLOGUE,
      localPayload: encodeClientHello(encodeClientHelloBody({})),
      verifyRemote: () => {},
      // A REKEY frame before every frame this client sends.
      channel: { rekey: { afterFrames: 1 } },
    });
    channel.start({ onMessage: () => {}, onClose: () => {} });
    await authenticating;
    const closed = closedWithin(socket, 3000);
    // Ten messages alone are within the bound of 16; with their ten REKEYs they are not.
    for (let i = 0; i < 10 && !channel.closed; i++) {
      channel.send(Uint8Array.of(i));
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(await closed).toBe('closed');
    release();
    expect(await rig.accepted[0]).toBeInstanceOf(ChannelError);
  });

  it('authQueueLimits widens the bound for a server that wants it', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let arrived!: () => void;
    const authenticating = new Promise<void>((r) => {
      arrived = r;
    });
    const gated: Authenticator = async (stream, context) => {
      arrived();
      await gate;
      return { stream, credentials: { remoteAddress: context.remoteAddress, methods: ['gated'] } };
    };
    rig = await startRig(
      compose(anonymousAuth({ identity: hostKey, authQueueLimits: { maxMessages: 64 } }), gated),
    );
    const socket = await dial(rig.port);
    socket.on('error', () => {});
    const secretKey = x25519.utils.randomSecretKey();
    const { channel } = await performHandshake(socket, {
      role: 'initiator',
      staticKeyPair: { secretKey, publicKey: x25519.getPublicKey(secretKey) },
      prologue: KEYWAY_PROLOGUE,
      localPayload: encodeClientHello(encodeClientHelloBody({})),
      verifyRemote: () => {},
    });
    channel.start({ onMessage: () => {}, onClose: () => {} });
    await authenticating;
    // 50 is past the default bound of 16, within the 64 this server allows.
    for (let i = 0; i < 50; i++) channel.send(Uint8Array.of(i));
    await new Promise((r) => setTimeout(r, 50));
    release();
    const server = (await rig.accepted[0]) as AcceptedConnection;
    expect(server).not.toBeInstanceOf(Error);
    const got = await new Promise<number[]>((resolve) => {
      const seen: number[] = [];
      server.transport.start({
        onMessage: (d) => {
          seen.push(d[0] ?? -1);
          if (seen.length === 50) resolve(seen);
        },
        onClose: () => resolve(seen),
      });
    });
    expect(got).toEqual(Array.from({ length: 50 }, (_, i) => i));
    channel.close();
  });

  it('an out-of-range authQueueLimits or authenticatedLimits is refused when the authenticator is made', () => {
    expect(() => anonymousAuth({ identity: hostKey, authQueueLimits: { maxMessages: 0 } })).toThrow(
      RangeError,
    );
    expect(() =>
      anonymousAuth({ identity: hostKey, authenticatedLimits: { maxFrameBytes: 100 } }),
    ).toThrow(RangeError);
    expect(() =>
      publicKeyAuth({
        identity: hostKey,
        authorizedKeys: AuthorizedKeys.parse(''),
        authQueueLimits: { maxBytes: -1 },
      }),
    ).toThrow(RangeError);
  });

  it('honest clients that pipeline calls right after OK lose nothing', async () => {
    rig = await startRig(anonymousAuth({ identity: hostKey }));
    const client = await login(rig.port, { knownHosts: knownHostsFor(rig.port) });
    client.start({ onMessage: () => {}, onClose: () => {} });
    for (let i = 0; i < 200; i++) client.send(Uint8Array.of(i & 0xff, 1, 2, 3));
    const server = (await rig.accepted[0]) as AcceptedConnection;
    // The RPC engine starts late: everything sent meanwhile waits for it.
    await new Promise((r) => setTimeout(r, 50));
    const got = await new Promise<number>((resolve) => {
      let n = 0;
      server.transport.start({
        onMessage: () => {
          if (++n === 200) resolve(n);
        },
        onClose: () => resolve(n),
      });
    });
    expect(got).toBe(200);
    client.close();
  });

  it('a server that sends right behind OK does not trip the client bound', async () => {
    // The messages leave in the same BATCH frame as OK, before the client calls handoff().
    rig = await startRig(anonymousAuth({ identity: hostKey }));
    const socket = await dial(rig.port);
    socket.on('error', () => {});
    const clientSide = clientHandshake(socket, {
      host: '127.0.0.1',
      port: rig.port,
      knownHosts: knownHostsFor(rig.port),
    });
    const server = (await rig.accepted[0]) as AcceptedConnection;
    for (let i = 0; i < 100; i++) server.transport.send(Uint8Array.of(i));
    const { transport } = await clientSide;
    const got = await new Promise<number>((resolve) => {
      let n = 0;
      transport.start({
        onMessage: () => {
          if (++n === 100) resolve(n);
        },
        onClose: () => resolve(n),
      });
    });
    expect(got).toBe(100);
    transport.close();
  });
});
