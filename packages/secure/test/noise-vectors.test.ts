/**
 * Noise rev 34 state machines against the cacophony and snow vectors for
 * `Noise_*_25519_ChaChaPoly_SHA256` (see test/vectors/README.md), on both providers:
 * every handshake message, the handshake hash, and the transport messages after Split().
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { nobleCryptoProvider } from '../src/crypto/noble-provider.js';
import { nodeCryptoProvider } from '../src/crypto/node-provider.js';
import type { CryptoProvider, X25519KeyPair } from '../src/crypto/provider.js';
import type { CipherState } from '../src/noise/cipher-state.js';
import { HandshakeState } from '../src/noise/handshake-state.js';
import { HANDSHAKE_PATTERNS } from '../src/noise/patterns.js';

interface Vector {
  protocol_name: string;
  source: string;
  init_prologue: string;
  init_static?: string;
  init_ephemeral: string;
  init_remote_static?: string;
  resp_prologue: string;
  resp_static?: string;
  resp_ephemeral?: string;
  resp_remote_static?: string;
  handshake_hash?: string;
  messages: { payload: string; ciphertext: string }[];
}

const file = new URL('./vectors/noise-25519-chachapoly-sha256.json', import.meta.url);
const vectors = (JSON.parse(readFileSync(file, 'utf8')) as { vectors: Vector[] }).vectors;

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

function pair(provider: CryptoProvider, secret: string | undefined): X25519KeyPair | undefined {
  if (secret === undefined) return undefined;
  const secretKey = hex(secret);
  return { secretKey, publicKey: provider.publicKeyOf(secretKey) };
}

function patternOf(v: Vector): string {
  return v.protocol_name.split('_')[1]!;
}

function runVector(v: Vector, provider: CryptoProvider): void {
  const pattern = patternOf(v);
  const optional = <T>(value: T | undefined) => (value === undefined ? {} : value);
  const init = new HandshakeState({
    pattern,
    initiator: true,
    prologue: hex(v.init_prologue),
    ...optional(v.init_static && { s: pair(provider, v.init_static) }),
    ...optional(v.init_ephemeral && { e: pair(provider, v.init_ephemeral) }),
    ...optional(v.init_remote_static && { rs: hex(v.init_remote_static) }),
    provider,
  });
  const resp = new HandshakeState({
    pattern,
    initiator: false,
    prologue: hex(v.resp_prologue),
    ...optional(v.resp_static && { s: pair(provider, v.resp_static) }),
    ...optional(v.resp_ephemeral && { e: pair(provider, v.resp_ephemeral) }),
    ...optional(v.resp_remote_static && { rs: hex(v.resp_remote_static) }),
    provider,
  });
  expect(init.protocolName).toBe(v.protocol_name);
  const handshakeLength = HANDSHAKE_PATTERNS[pattern]!.messages.length;
  const oneWay = HANDSHAKE_PATTERNS[pattern]!.oneWay;
  let i = 0;
  for (; i < handshakeLength; i++) {
    const m = v.messages[i]!;
    const [writer, reader] = i % 2 === 0 ? [init, resp] : [resp, init];
    expect(writer.isMyTurn).toBe(true);
    expect(toHex(writer.writeMessage(hex(m.payload)))).toBe(m.ciphertext);
    expect(toHex(reader.readMessage(hex(m.ciphertext)))).toBe(m.payload);
  }
  expect(init.isComplete && resp.isComplete).toBe(true);
  const a = init.result();
  const b = resp.result();
  expect(toHex(a.handshakeHash)).toBe(toHex(b.handshakeHash));
  if (v.handshake_hash) expect(toHex(a.handshakeHash)).toBe(v.handshake_hash);
  for (; i < v.messages.length; i++) {
    const m = v.messages[i]!;
    const fromInitiator = oneWay || i % 2 === 0;
    const [send, receive]: [CipherState, CipherState] = fromInitiator
      ? [a.send, b.receive]
      : [b.send, a.receive];
    const empty = new Uint8Array(0);
    expect(toHex(send.encryptWithAd(empty, hex(m.payload)))).toBe(m.ciphertext);
    expect(toHex(receive.decryptWithAd(empty, hex(m.ciphertext)))).toBe(m.payload);
  }
}

describe.each([nodeCryptoProvider, nobleCryptoProvider])(
  'Noise vectors on the $name provider',
  (provider) => {
    it('the vector file has both XX vectors', () => {
      expect(
        vectors
          .filter((v) => patternOf(v) === 'XX')
          .map((v) => v.source)
          .sort(),
      ).toEqual(['cacophony', 'snow']);
    });

    it.each(vectors.map((v) => [`${v.protocol_name} (${v.source})`, v] as const))(
      '%s',
      (_name, v) => {
        runVector(v, provider);
      },
    );
  },
);
