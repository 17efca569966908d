/**
 * Differential test of our Noise state machines against an independent implementation,
 * holepunch's `noise-handshake` (libsodium through sodium-universal). It hard-wires the
 * BLAKE2b hash, so both sides run `Noise_XX_25519_ChaChaPoly_BLAKE2b` here: the pattern
 * logic, DH, AEAD, HKDF and Split are exercised end to end with a second hash. keyway's
 * own suite, with SHA-256, is checked against the cacophony vectors and, differentially,
 * against `@chainsafe/libp2p-noise` in `noise-differential-sha256.test.ts`.
 */
import { createRequire } from 'node:module';
import { blake2b } from '@noble/hashes/blake2.js';
import { hmac } from '@noble/hashes/hmac.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { nobleCryptoProvider } from '../src/crypto/noble-provider.js';
import { nodeCryptoProvider } from '../src/crypto/node-provider.js';
import { type CryptoProvider, noiseHkdf } from '../src/crypto/provider.js';
import { HandshakeError } from '../src/errors.js';
import { HandshakeState } from '../src/noise/handshake-state.js';
import type { NoiseHashFunction } from '../src/noise/hash.js';

interface TheirKeyPair {
  publicKey: Buffer;
  secretKey: Buffer;
}
interface TheirNoise {
  s: TheirKeyPair;
  rs: Buffer | null;
  tx: Buffer | null;
  rx: Buffer | null;
  hash: Buffer | null;
  complete: boolean;
  protocol: Buffer;
  initialise(prologue: Buffer, remoteStatic?: Buffer): void;
  send(payload?: Buffer): Buffer;
  recv(message: Buffer): Buffer;
}
interface TheirCipher {
  encrypt(plaintext: Buffer, ad?: Buffer): Buffer;
  decrypt(ciphertext: Buffer, ad?: Buffer): Buffer;
}

const require = createRequire(import.meta.url);
const Noise = require('noise-handshake') as new (
  pattern: string,
  initiator: boolean,
  staticKeyPair?: TheirKeyPair,
) => TheirNoise;
const Cipher = require('noise-handshake/cipher') as new (key: Buffer) => TheirCipher;

const concat = (parts: readonly Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(parts));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

const BLAKE2B: NoiseHashFunction = {
  name: 'BLAKE2b',
  hashLen: 64,
  hash: (parts) => blake2b(concat(parts)),
  hkdf: (ck, ikm, count) =>
    noiseHkdf((key, parts) => hmac(blake2b, key, concat(parts)), ck, ikm, count),
};

const payload = fc.uint8Array({ maxLength: 300 });
const transport = fc.array(fc.uint8Array({ maxLength: 2000 }), { minLength: 1, maxLength: 6 });

describe.each([nodeCryptoProvider, nobleCryptoProvider])(
  'our XX against noise-handshake, $name provider',
  (provider: CryptoProvider) => {
    it('speaks the same protocol name', () => {
      const ours = new HandshakeState({
        pattern: 'XX',
        initiator: true,
        s: provider.generateKeyPair(),
        provider,
        hash: BLAKE2B,
      });
      expect(ours.protocolName).toBe(new Noise('XX', true).protocol.toString());
    });

    it('our initiator completes with their responder and both exchange transport messages', () => {
      fc.assert(
        fc.property(
          payload,
          payload,
          payload,
          fc.uint8Array({ maxLength: 40 }),
          transport,
          (p1, p2, p3, prologue, msgs) => {
            const s = provider.generateKeyPair();
            const ours = new HandshakeState({
              pattern: 'XX',
              initiator: true,
              prologue,
              s,
              provider,
              hash: BLAKE2B,
            });
            const theirs = new Noise('XX', false);
            theirs.initialise(Buffer.from(prologue));
            expect(toHex(theirs.recv(Buffer.from(ours.writeMessage(p1))))).toBe(toHex(p1));
            expect(toHex(ours.readMessage(theirs.send(Buffer.from(p2))))).toBe(toHex(p2));
            expect(toHex(theirs.recv(Buffer.from(ours.writeMessage(p3))))).toBe(toHex(p3));
            expect(ours.isComplete && theirs.complete).toBe(true);
            const { send, receive, handshakeHash } = ours.result();
            expect(toHex(handshakeHash)).toBe(toHex(theirs.hash!));
            expect(toHex(ours.remoteStatic!)).toBe(toHex(theirs.s.publicKey));
            expect(toHex(theirs.rs!)).toBe(toHex(s.publicKey));
            const theirSend = new Cipher(theirs.tx!);
            const theirReceive = new Cipher(theirs.rx!);
            const none = new Uint8Array(0);
            for (const m of msgs) {
              expect(toHex(theirReceive.decrypt(Buffer.from(send.encryptWithAd(none, m))))).toBe(
                toHex(m),
              );
              expect(toHex(receive.decryptWithAd(none, theirSend.encrypt(Buffer.from(m))))).toBe(
                toHex(m),
              );
            }
          },
        ),
        { numRuns: 15 },
      );
    });

    it('their initiator completes with our responder and both exchange transport messages', () => {
      fc.assert(
        fc.property(payload, payload, payload, transport, (p1, p2, p3, msgs) => {
          const s = provider.generateKeyPair();
          const prologue = new TextEncoder().encode('keyway/1 differential');
          const ours = new HandshakeState({
            pattern: 'XX',
            initiator: false,
            prologue,
            s,
            provider,
            hash: BLAKE2B,
          });
          const theirs = new Noise('XX', true);
          theirs.initialise(Buffer.from(prologue));
          expect(toHex(ours.readMessage(theirs.send(Buffer.from(p1))))).toBe(toHex(p1));
          expect(toHex(theirs.recv(Buffer.from(ours.writeMessage(p2))))).toBe(toHex(p2));
          expect(toHex(ours.readMessage(theirs.send(Buffer.from(p3))))).toBe(toHex(p3));
          const { send, receive, handshakeHash } = ours.result();
          expect(toHex(handshakeHash)).toBe(toHex(theirs.hash!));
          expect(toHex(ours.remoteStatic!)).toBe(toHex(theirs.s.publicKey));
          const theirSend = new Cipher(theirs.tx!);
          const theirReceive = new Cipher(theirs.rx!);
          const none = new Uint8Array(0);
          for (const m of msgs) {
            expect(toHex(receive.decryptWithAd(none, theirSend.encrypt(Buffer.from(m))))).toBe(
              toHex(m),
            );
            expect(toHex(theirReceive.decrypt(Buffer.from(send.encryptWithAd(none, m))))).toBe(
              toHex(m),
            );
          }
        }),
        { numRuns: 15 },
      );
    });

    it('a different prologue fails our initiator at message 2 with HandshakeError', () => {
      const ours = new HandshakeState({
        pattern: 'XX',
        initiator: true,
        prologue: new TextEncoder().encode('keyway/1 a'),
        s: provider.generateKeyPair(),
        provider,
        hash: BLAKE2B,
      });
      const theirs = new Noise('XX', false);
      theirs.initialise(Buffer.from('keyway/1 b'));
      theirs.recv(Buffer.from(ours.writeMessage()));
      // Message 1 carries no tag; message 2's encrypted static key is where h is checked.
      expect(() => ours.readMessage(theirs.send())).toThrow(HandshakeError);
    });
  },
);
