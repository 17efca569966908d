/**
 * Helpers shared by the channel tests: loopback TCP pairs, an in-memory duplex pair,
 * a receiver that records what a channel delivers, and a scripted peer that speaks the
 * wire protocol by hand so that it can misbehave.
 */
import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import type { ChannelOptions } from '../src/channel/channel-options.js';
import {
  type HandshakeOptions,
  keywayPrologue,
  performHandshake,
} from '../src/channel/perform-handshake.js';
import type { SecureChannel } from '../src/channel/secure-channel.js';
import { nodeCryptoProvider } from '../src/crypto/node-provider.js';
import type { CryptoProvider, X25519KeyPair } from '../src/crypto/provider.js';
import type { CipherState } from '../src/noise/cipher-state.js';
import { HandshakeState } from '../src/noise/handshake-state.js';

export const PROLOGUE = keywayPrologue('test');

/**
 * Two connected TCP sockets on 127.0.0.1.
 * @param allowHalfOpen - let the client keep writing after the server ended (a peer that
 * never closes its half).
 */
export async function tcpPair(allowHalfOpen = false): Promise<[Socket, Socket]> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const client = connect({ port, host: '127.0.0.1', allowHalfOpen });
  await once(client, 'connect');
  const [serverSide] = await accepted;
  server.close();
  return [client, serverSide];
}

/** Two connected in-memory duplex streams (Node 20 has no stream.duplexPair). */
export function duplexPair(): [Duplex, Duplex] {
  const make = (): Duplex & { peer?: Duplex } => {
    const d: Duplex & { peer?: Duplex } = new Duplex({
      read() {},
      write(chunk: Buffer, _enc, cb) {
        d.peer!.push(chunk);
        cb();
      },
      final(cb) {
        d.peer!.push(null);
        cb();
      },
    });
    return d;
  };
  const a = make();
  const b = make();
  a.peer = b;
  b.peer = a;
  return [a, b];
}

/** Records what a channel delivers. */
export interface Recorder {
  messages: Uint8Array[];
  closed: Promise<Error | undefined>;
  /** Resolves once `n` messages have arrived. */
  waitFor(n: number): Promise<Uint8Array[]>;
}

export function record(channel: SecureChannel, onMessage?: (data: Uint8Array) => void): Recorder {
  const messages: Uint8Array[] = [];
  const waiters: { n: number; resolve: (m: Uint8Array[]) => void }[] = [];
  let resolveClosed!: (e: Error | undefined) => void;
  const closed = new Promise<Error | undefined>((r) => {
    resolveClosed = r;
  });
  channel.start({
    onMessage(data) {
      messages.push(data.slice());
      onMessage?.(data);
      for (const w of waiters.filter((w) => messages.length >= w.n)) w.resolve(messages);
    },
    onClose(error) {
      resolveClosed(error);
    },
  });
  return {
    messages,
    closed,
    waitFor: (n) =>
      messages.length >= n
        ? Promise.resolve(messages)
        : new Promise((resolve) => waiters.push({ n, resolve })),
  };
}

/** Runs both ends of a handshake over a fresh TCP pair. */
export async function securePair(
  options: {
    provider?: CryptoProvider;
    initiator?: Partial<HandshakeOptions>;
    responder?: Partial<HandshakeOptions>;
  } = {},
) {
  const [a, b] = await tcpPair();
  const provider = options.provider ?? nodeCryptoProvider;
  const clientKey = provider.generateKeyPair();
  const serverKey = provider.generateKeyPair();
  const [client, server] = await Promise.all([
    performHandshake(a, {
      role: 'initiator',
      staticKeyPair: clientKey,
      prologue: PROLOGUE,
      verifyRemote: () => {},
      provider,
      ...options.initiator,
    }),
    performHandshake(b, {
      role: 'responder',
      staticKeyPair: serverKey,
      prologue: PROLOGUE,
      verifyRemote: () => {},
      provider,
      ...options.responder,
    }),
  ]);
  return { client, server, clientKey, serverKey, sockets: [a, b] as const };
}

/**
 * A responder channel over TCP with a hand-driven initiator (a {@link ScriptedPeer}) at the
 * other end, for tests that read or forge frames.
 */
export async function scriptedPair(channel: ChannelOptions = {}, allowHalfOpen = false) {
  const [peerSocket, socket] = await tcpPair(allowHalfOpen);
  const peer = new ScriptedPeer(peerSocket);
  const [outcome] = await Promise.all([
    performHandshake(socket, {
      role: 'responder',
      staticKeyPair: nodeCryptoProvider.generateKeyPair(),
      prologue: PROLOGUE,
      verifyRemote: () => {},
      channel,
    }),
    peer.handshake(),
  ]);
  return { peer, channel: outcome.channel, peerSocket, socket };
}

const header = (n: number) => Uint8Array.of(n >>> 8, n & 0xff);

/**
 * A hand-driven initiator: completes a real XX handshake over `socket`, then lets a test
 * write any bytes, well-formed or not.
 */
export class ScriptedPeer {
  readonly socket: Socket;
  send!: CipherState;
  receive!: CipherState;
  readonly key: X25519KeyPair = nodeCryptoProvider.generateKeyPair();
  #buffer = Buffer.alloc(0);
  #waiters: (() => void)[] = [];
  ended = false;

  constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, chunk]);
      for (const w of this.#waiters.splice(0)) w();
    });
    socket.on('end', () => {
      this.ended = true;
      for (const w of this.#waiters.splice(0)) w();
    });
    socket.on('close', () => {
      this.ended = true;
      for (const w of this.#waiters.splice(0)) w();
    });
    socket.on('error', () => {});
  }

  /** Reads one length-prefixed message, or undefined at EOF. */
  async readRaw(): Promise<Uint8Array | undefined> {
    for (;;) {
      if (this.#buffer.length >= 2) {
        const n = this.#buffer.readUInt16BE(0);
        if (this.#buffer.length >= 2 + n) {
          const m = new Uint8Array(this.#buffer.subarray(2, 2 + n));
          this.#buffer = this.#buffer.subarray(2 + n);
          return m;
        }
      }
      if (this.ended) return undefined;
      await new Promise<void>((r) => this.#waiters.push(r));
    }
  }

  writeRaw(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  writeMessage(body: Uint8Array): void {
    this.socket.write(Buffer.concat([header(body.length), body]));
  }

  async handshake(prologue = PROLOGUE): Promise<void> {
    const hs = new HandshakeState({ pattern: 'XX', initiator: true, prologue, s: this.key });
    this.writeMessage(hs.writeMessage());
    hs.readMessage((await this.readRaw())!);
    this.writeMessage(hs.writeMessage());
    ({ send: this.send, receive: this.receive } = hs.result());
  }

  /** Seals a frame `type ‖ body` with the next nonce, as the channel would. */
  sealFrame(type: number, body: Uint8Array): Uint8Array {
    const pt = new Uint8Array(1 + body.length);
    pt[0] = type;
    pt.set(body, 1);
    const sealed = this.send.encryptWithAd(new Uint8Array(0), pt);
    return new Uint8Array(Buffer.concat([header(sealed.length), sealed]));
  }

  /** Reads and opens the next frame the channel sent. */
  async readFrame(): Promise<{ type: number; body: Uint8Array } | undefined> {
    const raw = await this.readRaw();
    if (raw === undefined) return undefined;
    const pt = this.receive.decryptWithAd(new Uint8Array(0), raw);
    return { type: pt[0]!, body: pt.subarray(1) };
  }
}
