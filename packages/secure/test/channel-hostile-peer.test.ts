/**
 * A scripted hostile peer against a server that runs the real handshake driver and
 * channel: bad tag, oversize length, replay, reordered frames, unknown frame type,
 * oversize message, empty continuation frames, EOF without CLOSE, truncated handshake and
 * a slow-loris handshake.
 * Each closes only that connection with a typed error while another connection on the
 * same server keeps working.
 */
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { performHandshake } from '../src/channel/perform-handshake.js';
import { FrameType, type SecureChannel } from '../src/channel/secure-channel.js';
import { nodeCryptoProvider } from '../src/crypto/node-provider.js';
import { ChannelError, DecryptError, HandshakeError } from '../src/errors.js';
import { PROLOGUE, record, ScriptedPeer } from './channel-helpers.js';

/** How each server-side connection ended: a handshake error or the channel's close error. */
type Outcome = { stage: 'handshake' | 'channel'; error: Error | undefined };

let server: Server;
let port: number;
const outcomes: Promise<Outcome>[] = [];
const serverKey = nodeCryptoProvider.generateKeyPair();

beforeAll(async () => {
  server = createServer((socket) => {
    outcomes.push(
      (async (): Promise<Outcome> => {
        let channel: SecureChannel;
        try {
          ({ channel } = await performHandshake(socket, {
            role: 'responder',
            staticKeyPair: serverKey,
            prologue: PROLOGUE,
            verifyRemote: () => {},
            timeoutMs: 300,
          }));
        } catch (error) {
          return { stage: 'handshake', error: error as Error };
        }
        // An echo service.
        const rec = record(channel, (m) => {
          if (!channel.closed) channel.send(m);
        });
        return { stage: 'channel', error: await rec.closed };
      })(),
    );
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as { port: number }).port;
});

afterAll(() => {
  server.close();
});

async function dial(): Promise<{ socket: Socket; outcome: Promise<Outcome> }> {
  const before = outcomes.length;
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  for (let i = 0; i < 100 && outcomes.length === before; i++)
    await new Promise((r) => setTimeout(r, 5));
  return { socket, outcome: outcomes[before]! };
}

/** A well-behaved client on the same server, connected before the hostile one acts. */
async function goodClient() {
  const { socket } = await dial();
  const { channel } = await performHandshake(socket, {
    role: 'initiator',
    staticKeyPair: nodeCryptoProvider.generateKeyPair(),
    prologue: PROLOGUE,
    verifyRemote: () => {},
  });
  const rec = record(channel);
  return {
    async stillWorks(): Promise<void> {
      const n = rec.messages.length;
      channel.send(Uint8Array.of(42, n));
      const got = await rec.waitFor(n + 1);
      expect(got[n]).toEqual(Uint8Array.of(42, n));
      channel.close();
    },
  };
}

async function hostile(): Promise<{ peer: ScriptedPeer; outcome: Promise<Outcome> }> {
  const { socket, outcome } = await dial();
  const peer = new ScriptedPeer(socket);
  await peer.handshake();
  return { peer, outcome };
}

async function expectClosed(
  outcome: Promise<Outcome>,
  stage: Outcome['stage'],
  type: new (...a: never[]) => Error,
) {
  const { stage: got, error } = await outcome;
  expect(got).toBe(stage);
  expect(error).toBeInstanceOf(type);
  return error!;
}

describe('a hostile peer is cut off alone', () => {
  it('the echo server works for a well-behaved scripted peer', async () => {
    const { peer, outcome } = await hostile();
    peer.writeRaw(peer.sealFrame(FrameType.DATA, Uint8Array.of(1, 2, 3)));
    expect(await peer.readFrame()).toEqual({ type: FrameType.DATA, body: Uint8Array.of(1, 2, 3) });
    peer.writeRaw(peer.sealFrame(FrameType.CLOSE, new Uint8Array(0)));
    expect((await outcome).error).toBeUndefined();
  });

  it('bad tag → DecryptError', async () => {
    const good = await goodClient();
    const { peer, outcome } = await hostile();
    const frame = peer.sealFrame(FrameType.DATA, Uint8Array.of(1));
    frame[frame.length - 1]! ^= 1;
    peer.writeRaw(frame);
    await expectClosed(outcome, 'channel', DecryptError);
    await good.stillWorks();
  });

  it('oversize length → ChannelError before any byte of the body', async () => {
    const good = await goodClient();
    const { peer, outcome } = await hostile();
    peer.writeRaw(Uint8Array.of(0xff, 0xff));
    const error = await expectClosed(outcome, 'channel', ChannelError);
    expect(error.message).toMatch(/exceeds/);
    await good.stillWorks();
  });

  it('replayed frame → DecryptError', async () => {
    const good = await goodClient();
    const { peer, outcome } = await hostile();
    const frame = peer.sealFrame(FrameType.DATA, Uint8Array.of(7));
    peer.writeRaw(frame);
    expect((await peer.readFrame())?.body).toEqual(Uint8Array.of(7));
    peer.writeRaw(frame);
    await expectClosed(outcome, 'channel', DecryptError);
    await good.stillWorks();
  });

  it('reordered frames → DecryptError, and the earlier frame is not delivered after', async () => {
    const good = await goodClient();
    const { peer, outcome } = await hostile();
    const first = peer.sealFrame(FrameType.DATA, Uint8Array.of(1));
    const second = peer.sealFrame(FrameType.DATA, Uint8Array.of(2));
    peer.writeRaw(second);
    peer.writeRaw(first);
    await expectClosed(outcome, 'channel', DecryptError);
    expect(await peer.readFrame()).toBeUndefined();
    await good.stillWorks();
  });

  it('unknown frame type → ChannelError', async () => {
    const good = await goodClient();
    const { peer, outcome } = await hostile();
    peer.writeRaw(peer.sealFrame(99, new Uint8Array(0)));
    await expectClosed(outcome, 'channel', ChannelError);
    await good.stillWorks();
  });

  it('a message over the pre-authentication limit, in continuation frames → ChannelError', async () => {
    const good = await goodClient();
    const { peer, outcome } = await hostile();
    const chunk = new Uint8Array(16 * 1024 - 17);
    for (let i = 0; i < 6; i++) peer.writeRaw(peer.sealFrame(FrameType.DATA_CONTINUED, chunk));
    const error = await expectClosed(outcome, 'channel', ChannelError);
    expect(error.message).toMatch(/maxMessageBytes/);
    await good.stillWorks();
  });

  it('empty continuation frames → ChannelError at the first one', async () => {
    const good = await goodClient();
    const { peer, outcome } = await hostile();
    const empties: Uint8Array[] = [];
    for (let i = 0; i < 100; i++) {
      empties.push(peer.sealFrame(FrameType.DATA_CONTINUED, new Uint8Array(0)));
    }
    peer.writeRaw(Buffer.concat(empties));
    const error = await expectClosed(outcome, 'channel', ChannelError);
    expect(error.message).toMatch(/DATA_CONTINUED frame carries 0 bytes/);
    await good.stillWorks();
  });

  it('EOF without CLOSE, mid-frame → ChannelError', async () => {
    const good = await goodClient();
    const { peer, outcome } = await hostile();
    const frame = peer.sealFrame(FrameType.DATA, Uint8Array.of(1, 2, 3));
    peer.writeRaw(frame.subarray(0, 10));
    peer.socket.end();
    const error = await expectClosed(outcome, 'channel', ChannelError);
    expect(error.message).toMatch(/without CLOSE/);
    await good.stillWorks();
  });

  it('truncated handshake → HandshakeError', async () => {
    const good = await goodClient();
    const { socket, outcome } = await dial();
    socket.write(Uint8Array.of(0, 32, 1, 2, 3));
    socket.end();
    const error = await expectClosed(outcome, 'handshake', HandshakeError);
    expect(error.message).toMatch(/closed during the handshake/);
    await good.stillWorks();
  });

  it('oversize handshake message → HandshakeError', async () => {
    const good = await goodClient();
    const { socket, outcome } = await dial();
    socket.on('error', () => {});
    socket.write(Uint8Array.of(0xff, 0xf0));
    await expectClosed(outcome, 'handshake', HandshakeError);
    await good.stillWorks();
  });

  it('slow-loris handshake hits the deadline → HandshakeError and the socket is destroyed', async () => {
    const good = await goodClient();
    const { socket, outcome } = await dial();
    socket.on('error', () => {});
    const closed = once(socket, 'close');
    // A 64-byte message announced, then one byte at a time: never done within 300 ms.
    socket.write(Uint8Array.of(0, 64));
    const drip = setInterval(() => socket.write(Uint8Array.of(0)), 50);
    try {
      const error = await expectClosed(outcome, 'handshake', HandshakeError);
      expect(error.message).toMatch(/did not finish within 300 ms/);
      await closed;
    } finally {
      clearInterval(drip);
    }
    await good.stillWorks();
  });
});
