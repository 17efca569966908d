/**
 * Differential test of our Noise state machines (rev 34 §5) against an independent
 * implementation of keyway's exact suite, `Noise_XX_25519_ChaChaPoly_SHA256`: ChainSafe's
 * `@chainsafe/libp2p-noise`, the Noise of js-libp2p. It is driven at the Noise level only
 * (our prologue, our static keys, arbitrary payloads), never through a libp2p connection.
 *
 * The package exports only the libp2p connection encrypter, so its XX state machine is
 * imported by file path from its `dist/`: `XXHandshakeState` (write/read of messages A, B
 * and C, `ss.h` the handshake hash, `ss.split()`), its `CipherState` (encryptWithAd /
 * decryptWithAd) and `wrapCrypto`. Its primitives are its own `defaultCrypto`: SHA-256 and
 * X25519 from node:crypto, ChaCha20-Poly1305 from AssemblyScript (as-chacha20poly1305)
 * below 1200 bytes and from node:crypto above, HKDF as RFC 5869 over @noble/hashes.
 */
import { defaultCrypto } from '@chainsafe/libp2p-noise/crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
// Not exported by the package (its `exports` map lists only `.` and `./crypto`), hence by path.
import { wrapCrypto } from '../node_modules/@chainsafe/libp2p-noise/dist/src/crypto.js';
import {
  type CipherState as TheirCipherState,
  XXHandshakeState,
} from '../node_modules/@chainsafe/libp2p-noise/dist/src/protocol.js';
import type { KeyPair as TheirKeyPair } from '../node_modules/@chainsafe/libp2p-noise/dist/src/types.js';
import { nobleCryptoProvider } from '../src/crypto/noble-provider.js';
import { nodeCryptoProvider } from '../src/crypto/node-provider.js';
import type { CryptoProvider, X25519KeyPair } from '../src/crypto/provider.js';
import { DecryptError, HandshakeError } from '../src/errors.js';
import type { CipherState } from '../src/noise/cipher-state.js';
import { HandshakeState } from '../src/noise/handshake-state.js';

/** The name js-libp2p passes to `XXHandshakeState` (a literal in its performHandshake.js). */
const SUITE = 'Noise_XX_25519_ChaChaPoly_SHA256';
const theirCrypto = wrapCrypto(defaultCrypto);
const none = new Uint8Array(0);
const PROLOGUE = new TextEncoder().encode('keyway/1 differential sha256');

type TheirList = Parameters<XXHandshakeState['readMessageA']>[0];
type TheirBytes = ReturnType<XXHandshakeState['writeMessageA']>;

/**
 * Their readers take their own byte-list type (`uint8arraylist`), which every one of their
 * writers returns; the class is borrowed from a message they wrote, so that the test needs
 * no second dependency.
 */
const TheirListClass = new XXHandshakeState({
  crypto: theirCrypto,
  protocolName: SUITE,
  initiator: true,
  prologue: none,
}).writeMessageA(none).constructor as new (
  ...bufs: Uint8Array[]
) => TheirList;

const toTheirs = (bytes: Uint8Array): TheirList => new TheirListClass(bytes);
const flat = (bytes: TheirBytes | Uint8Array): Uint8Array => new Uint8Array(bytes.subarray());
const toHex = (bytes: TheirBytes | Uint8Array): string =>
  Buffer.from(bytes.subarray()).toString('hex');

function flipBit(message: Uint8Array, index: number, bit: number): Uint8Array {
  const out = message.slice();
  out[index % out.length]! ^= 1 << bit;
  return out;
}

function ourKeys(provider: CryptoProvider, secret: Uint8Array): X25519KeyPair {
  return { secretKey: new Uint8Array(secret), publicKey: provider.publicKeyOf(secret) };
}

function theirKeys(secret: Uint8Array): TheirKeyPair {
  return defaultCrypto.generateX25519KeyPairFromSeed(new Uint8Array(secret));
}

function ours(
  provider: CryptoProvider,
  initiator: boolean,
  s: X25519KeyPair,
  prologue: Uint8Array = PROLOGUE,
): HandshakeState {
  return new HandshakeState({ pattern: 'XX', initiator, prologue, s, provider });
}

function theirs(initiator: boolean, s: TheirKeyPair, prologue: Uint8Array = PROLOGUE) {
  return new XXHandshakeState({ crypto: theirCrypto, protocolName: SUITE, initiator, prologue, s });
}

/** Both sides after a completed handshake, seen from our side. */
interface Session {
  ourSend: CipherState;
  ourReceive: CipherState;
  theirSend: TheirCipherState;
  theirReceive: TheirCipherState;
}

/**
 * Sends every message both ways and checks each arrives intact and that both counters
 * advance in step (Noise §5.1: one nonce per message).
 */
function exchange(session: Session, messages: readonly Uint8Array[]): void {
  const { ourSend, ourReceive, theirSend, theirReceive } = session;
  messages.forEach((m, i) => {
    expect(toHex(theirReceive.decryptWithAd(none, ourSend.encryptWithAd(none, m)))).toBe(toHex(m));
    expect(toHex(ourReceive.decryptWithAd(none, flat(theirSend.encryptWithAd(none, m))))).toBe(
      toHex(m),
    );
    expect(ourSend.nonce).toBe(BigInt(i + 1));
    expect(ourReceive.nonce).toBe(BigInt(i + 1));
    expect(theirSend.n.getUint64()).toBe(i + 1);
    expect(theirReceive.n.getUint64()).toBe(i + 1);
  });
}

/** Runs XX with us as initiator; checks payloads, static keys and handshake hash. */
function weInitiate(
  provider: CryptoProvider,
  p: readonly [Uint8Array, Uint8Array, Uint8Array],
  prologue: Uint8Array = PROLOGUE,
  secrets: readonly [Uint8Array, Uint8Array] = [provider.randomBytes(32), provider.randomBytes(32)],
): Session {
  const s = ourKeys(provider, secrets[0]);
  const them = theirKeys(secrets[1]);
  const us = ours(provider, true, s, prologue);
  const peer = theirs(false, them, prologue);
  expect(toHex(peer.readMessageA(toTheirs(us.writeMessage(p[0]))))).toBe(toHex(p[0]));
  expect(toHex(us.readMessage(flat(peer.writeMessageB(p[1]))))).toBe(toHex(p[1]));
  expect(toHex(peer.readMessageC(toTheirs(us.writeMessage(p[2]))))).toBe(toHex(p[2]));
  expect(us.isComplete).toBe(true);
  const { send, receive, handshakeHash } = us.result();
  expect(toHex(handshakeHash)).toBe(toHex(peer.ss.h));
  expect(toHex(us.remoteStatic!)).toBe(toHex(them.publicKey));
  expect(toHex(peer.rs!)).toBe(toHex(s.publicKey));
  const [c1, c2] = peer.ss.split();
  return { ourSend: send, ourReceive: receive, theirSend: c2, theirReceive: c1 };
}

/** Runs XX with them as initiator; checks payloads, static keys and handshake hash. */
function theyInitiate(
  provider: CryptoProvider,
  p: readonly [Uint8Array, Uint8Array, Uint8Array],
  prologue: Uint8Array = PROLOGUE,
  secrets: readonly [Uint8Array, Uint8Array] = [provider.randomBytes(32), provider.randomBytes(32)],
): Session {
  const s = ourKeys(provider, secrets[0]);
  const them = theirKeys(secrets[1]);
  const us = ours(provider, false, s, prologue);
  const peer = theirs(true, them, prologue);
  expect(toHex(us.readMessage(flat(peer.writeMessageA(p[0]))))).toBe(toHex(p[0]));
  expect(toHex(peer.readMessageB(toTheirs(us.writeMessage(p[1]))))).toBe(toHex(p[1]));
  expect(toHex(us.readMessage(flat(peer.writeMessageC(p[2]))))).toBe(toHex(p[2]));
  expect(us.isComplete).toBe(true);
  const { send, receive, handshakeHash } = us.result();
  expect(toHex(handshakeHash)).toBe(toHex(peer.ss.h));
  expect(toHex(us.remoteStatic!)).toBe(toHex(them.publicKey));
  expect(toHex(peer.rs!)).toBe(toHex(s.publicKey));
  const [c1, c2] = peer.ss.split();
  return { ourSend: send, ourReceive: receive, theirSend: c1, theirReceive: c2 };
}

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const PAYLOADS = [text('one: e'), text('two: e, ee, s, es'), text('three: s, se')] as const;
// 1300 bytes crosses their 1200-byte switch from AssemblyScript to node:crypto ChaChaPoly.
const TRANSPORT = [text('first'), none, new Uint8Array(1300).fill(0xa5), text('last')];

// Handshake payloads up to 1500 bytes also reach both of their ChaChaPoly back ends.
const payload = fc.uint8Array({ maxLength: 1500 });
const payloads = fc.tuple(payload, payload, payload);
const secret = fc.uint8Array({ minLength: 32, maxLength: 32 });
const transport = fc.array(fc.uint8Array({ maxLength: 2000 }), { minLength: 1, maxLength: 6 });

describe.each([nodeCryptoProvider, nobleCryptoProvider])(
  'our XX against @chainsafe/libp2p-noise on SHA-256, $name provider',
  (provider: CryptoProvider) => {
    it('runs the same suite', () => {
      expect(ours(provider, true, provider.generateKeyPair()).protocolName).toBe(SUITE);
    });

    it('our initiator completes with their responder; transport works both ways', () => {
      exchange(weInitiate(provider, PAYLOADS), TRANSPORT);
    });

    it('their initiator completes with our responder; transport works both ways', () => {
      exchange(theyInitiate(provider, PAYLOADS), TRANSPORT);
    });

    it('agrees for random payloads, prologues, static keys and transport messages', () => {
      fc.assert(
        fc.property(
          fc.boolean(),
          payloads,
          fc.uint8Array({ maxLength: 64 }),
          fc.tuple(secret, secret),
          transport,
          (weStart, p, prologue, secrets, messages) => {
            const run = weStart ? weInitiate : theyInitiate;
            exchange(run(provider, p, prologue, secrets), messages);
          },
        ),
        { numRuns: 25 },
      );
    });

    it('a different prologue on one side fails the handshake in both roles', () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ maxLength: 40 }), (a, b) => {
          fc.pre(toHex(a) !== toHex(b));
          // We initiate: message 1 has no tag; message 2's encrypted static key is the
          // first place our h is checked, so we refuse it.
          const us = ours(provider, true, provider.generateKeyPair(), a);
          const peer = theirs(false, theirCrypto.generateKeypair(), b);
          peer.readMessageA(toTheirs(us.writeMessage()));
          const m2 = flat(peer.writeMessageB(none));
          expect(() => us.readMessage(m2)).toThrow(HandshakeError);
          // They initiate: we accept message 1 unauthenticated, and they refuse our message 2.
          const us2 = ours(provider, false, provider.generateKeyPair(), a);
          const peer2 = theirs(true, theirCrypto.generateKeypair(), b);
          us2.readMessage(flat(peer2.writeMessageA(none)));
          const ourM2 = toTheirs(us2.writeMessage());
          expect(() => peer2.readMessageB(ourM2)).toThrow(/handshake stage 1 validation fail/);
        }),
        { numRuns: 25 },
      );
    });

    it('refuses their message 2 with any bit flipped or cut short, with HandshakeError', () => {
      fc.assert(
        fc.property(fc.nat(), fc.integer({ min: 0, max: 7 }), fc.nat(), (index, bit, cut) => {
          const us = ours(provider, true, provider.generateKeyPair());
          const peer = theirs(false, theirCrypto.generateKeypair());
          peer.readMessageA(toTheirs(us.writeMessage(PAYLOADS[0])));
          const m2 = flat(peer.writeMessageB(PAYLOADS[1]));
          expect(() => us.readMessage(flipBit(m2, index, bit))).toThrow(HandshakeError);
          // A failed state stays failed, even for the genuine message.
          expect(() => us.readMessage(m2)).toThrow(HandshakeError);
          const fresh = ours(provider, true, provider.generateKeyPair());
          const peer2 = theirs(false, theirCrypto.generateKeypair());
          peer2.readMessageA(toTheirs(fresh.writeMessage()));
          const n2 = flat(peer2.writeMessageB(PAYLOADS[1]));
          expect(() => fresh.readMessage(n2.subarray(0, cut % n2.length))).toThrow(HandshakeError);
        }),
        { numRuns: 25 },
      );
    });

    it('refuses their message 3 with any bit flipped, with HandshakeError', () => {
      fc.assert(
        fc.property(fc.nat(), fc.integer({ min: 0, max: 7 }), (index, bit) => {
          const us = ours(provider, false, provider.generateKeyPair());
          const peer = theirs(true, theirCrypto.generateKeypair());
          us.readMessage(flat(peer.writeMessageA(PAYLOADS[0])));
          peer.readMessageB(toTheirs(us.writeMessage(PAYLOADS[1])));
          const m3 = flat(peer.writeMessageC(PAYLOADS[2]));
          expect(() => us.readMessage(flipBit(m3, index, bit))).toThrow(HandshakeError);
          expect(us.isComplete).toBe(false);
        }),
        { numRuns: 25 },
      );
    });

    it('a message 1 tampered on the way to them is caught by us at message 2', () => {
      const us = ours(provider, true, provider.generateKeyPair());
      const peer = theirs(false, theirCrypto.generateKeypair());
      // Their ephemeral key is mixed into h and ee, so flipping a bit of our e (byte 0)
      // leaves them with a different key schedule from ours.
      peer.readMessageA(toTheirs(flipBit(us.writeMessage(PAYLOADS[0]), 0, 0)));
      const m2 = flat(peer.writeMessageB(PAYLOADS[1]));
      expect(() => us.readMessage(m2)).toThrow(HandshakeError);
    });

    it('refuses their transport messages tampered, replayed or reordered, with DecryptError', () => {
      fc.assert(
        fc.property(
          fc.boolean(),
          fc.uint8Array({ minLength: 1, maxLength: 300 }),
          fc.nat(),
          fc.integer({ min: 0, max: 7 }),
          (weStart, m, index, bit) => {
            const session = (weStart ? weInitiate : theyInitiate)(provider, PAYLOADS);
            const { ourReceive, theirSend } = session;
            const c0 = flat(theirSend.encryptWithAd(none, m));
            const c1 = flat(theirSend.encryptWithAd(none, m));
            expect(() => ourReceive.decryptWithAd(none, flipBit(c0, index, bit))).toThrow(
              DecryptError,
            );
            // Reordered: the second message at nonce 0 fails too.
            expect(() => ourReceive.decryptWithAd(none, c1)).toThrow(DecryptError);
            expect(ourReceive.nonce).toBe(0n);
            expect(toHex(ourReceive.decryptWithAd(none, c0))).toBe(toHex(m));
            // Replayed: the first message again, now at nonce 1.
            expect(() => ourReceive.decryptWithAd(none, c0)).toThrow(DecryptError);
            expect(toHex(ourReceive.decryptWithAd(none, c1))).toBe(toHex(m));
          },
        ),
        { numRuns: 25 },
      );
    });
  },
);
