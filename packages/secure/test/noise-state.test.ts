/**
 * Rules of the Noise state machines beyond the vectors: nonce handling (rev 34 §5.1),
 * Rekey (§11.3), turn order, and hostile handshake input (any bytes in give a typed
 * error, never a crash).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { nobleCryptoProvider } from '../src/crypto/noble-provider.js';
import { nodeCryptoProvider } from '../src/crypto/node-provider.js';
import { ChannelError, DecryptError, HandshakeError } from '../src/errors.js';
import { CipherState, MAX_NONCE } from '../src/noise/cipher-state.js';
import { HandshakeState } from '../src/noise/handshake-state.js';
import { HANDSHAKE_PATTERNS } from '../src/noise/patterns.js';

const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const none = new Uint8Array(0);

describe.each([nodeCryptoProvider, nobleCryptoProvider])('CipherState on $name', (provider) => {
  const key = new Uint8Array(32).fill(7);

  it('advances the nonce only after a tag verifies', () => {
    const tx = new CipherState(provider, key);
    const rx = new CipherState(provider, key);
    const c0 = tx.encryptWithAd(none, Uint8Array.of(1));
    const c1 = tx.encryptWithAd(none, Uint8Array.of(2));
    const forged = c0.slice();
    forged[0]! ^= 1;
    expect(() => rx.decryptWithAd(none, forged)).toThrow(DecryptError);
    expect(rx.nonce).toBe(0n);
    // Reordered: frame 1 before frame 0 fails and leaves the counter where it was.
    expect(() => rx.decryptWithAd(none, c1)).toThrow(DecryptError);
    expect(rx.nonce).toBe(0n);
    expect(rx.decryptWithAd(none, c0)).toEqual(Uint8Array.of(1));
    // Replayed: frame 0 again fails at nonce 1.
    expect(() => rx.decryptWithAd(none, c0)).toThrow(DecryptError);
    expect(rx.decryptWithAd(none, c1)).toEqual(Uint8Array.of(2));
    expect(rx.nonce).toBe(2n);
  });

  it('uses 4 zero bytes and the little-endian 64-bit counter as the nonce', () => {
    const tx = new CipherState(provider, key);
    tx.setNonce(0x0102030405060708n);
    const nonce = Uint8Array.of(0, 0, 0, 0, 8, 7, 6, 5, 4, 3, 2, 1);
    expect(toHex(tx.encryptWithAd(none, Uint8Array.of(9)))).toBe(
      toHex(provider.seal(key, nonce, none, Uint8Array.of(9))),
    );
  });

  it('works up to 2^64-2 and refuses to use the reserved nonce 2^64-1', () => {
    const tx = new CipherState(provider, key);
    const rx = new CipherState(provider, key);
    tx.setNonce(MAX_NONCE - 1n);
    rx.setNonce(MAX_NONCE - 1n);
    expect(rx.decryptWithAd(none, tx.encryptWithAd(none, Uint8Array.of(1)))).toEqual(
      Uint8Array.of(1),
    );
    expect(tx.nonce).toBe(MAX_NONCE);
    expect(() => tx.encryptWithAd(none, Uint8Array.of(1))).toThrow(ChannelError);
    expect(() => rx.decryptWithAd(none, new Uint8Array(17))).toThrow(ChannelError);
    expect(() => tx.setNonce(MAX_NONCE + 1n)).toThrow(RangeError);
  });

  it('Rekey() sets k to ENCRYPT(k, 2^64-1, "", zeros)[0:32] and keeps the nonce', () => {
    const tx = new CipherState(provider, key);
    tx.encryptWithAd(none, Uint8Array.of(1));
    tx.rekey();
    expect(tx.nonce).toBe(1n);
    const maxNonce = Uint8Array.of(0, 0, 0, 0, 255, 255, 255, 255, 255, 255, 255, 255);
    const newKey = provider.seal(key, maxNonce, none, new Uint8Array(32)).subarray(0, 32);
    const expected = new CipherState(provider, newKey);
    expected.setNonce(1n);
    expect(toHex(tx.encryptWithAd(none, Uint8Array.of(5)))).toBe(
      toHex(expected.encryptWithAd(none, Uint8Array.of(5))),
    );
  });

  it('passes data through unchanged before a key is set, as the spec says', () => {
    const cs = new CipherState(provider);
    expect(cs.hasKey()).toBe(false);
    expect(cs.encryptWithAd(none, Uint8Array.of(3))).toEqual(Uint8Array.of(3));
  });
});

describe('HandshakeState rules', () => {
  const provider = nodeCryptoProvider;
  const pair = () =>
    [
      new HandshakeState({ pattern: 'XX', initiator: true, s: provider.generateKeyPair() }),
      new HandshakeState({ pattern: 'XX', initiator: false, s: provider.generateKeyPair() }),
    ] as const;

  it('pattern tables are frozen', () => {
    expect(Object.isFrozen(HANDSHAKE_PATTERNS)).toBe(true);
    expect(Object.isFrozen(HANDSHAKE_PATTERNS.XX!.messages[1])).toBe(true);
  });

  it('refuses to write or read out of turn', () => {
    const [i, r] = pair();
    expect(() => r.writeMessage()).toThrow(HandshakeError);
    expect(() => i.readMessage(new Uint8Array(32))).toThrow(HandshakeError);
  });

  it('needs the keys the pattern names', () => {
    expect(() => new HandshakeState({ pattern: 'XX', initiator: true })).toThrow(TypeError);
    expect(
      () => new HandshakeState({ pattern: 'IK', initiator: true, s: provider.generateKeyPair() }),
    ).toThrow(TypeError);
    expect(() => new HandshakeState({ pattern: 'QQ', initiator: true })).toThrow(TypeError);
  });

  it('a truncated or tampered message fails with HandshakeError and poisons the state', () => {
    const [i, r] = pair();
    r.readMessage(i.writeMessage());
    const m2 = r.writeMessage();
    expect(() => i.readMessage(m2.subarray(0, 40))).toThrow(HandshakeError);
    expect(() => i.readMessage(m2)).toThrow(/already failed/);
  });

  it('a finished handshake yields matching transport keys and hashes', () => {
    const [i, r] = pair();
    r.readMessage(i.writeMessage());
    i.readMessage(r.writeMessage(Uint8Array.of(2)));
    expect(r.readMessage(i.writeMessage(Uint8Array.of(3)))).toEqual(Uint8Array.of(3));
    const a = i.result();
    const b = r.result();
    expect(toHex(a.handshakeHash)).toBe(toHex(b.handshakeHash));
    expect(b.receive.decryptWithAd(none, a.send.encryptWithAd(none, Uint8Array.of(1)))).toEqual(
      Uint8Array.of(1),
    );
    expect(() => i.writeMessage()).toThrow(HandshakeError);
  });

  it('payloadHash: a payload builder sees the h its payload is sent under, and the reader gets the same', () => {
    const [i, r] = pair();
    expect(i.payloadHash).toBeUndefined();
    r.readMessage(i.writeMessage());
    const seen: Uint8Array[] = [];
    const m2 = r.writeMessage((h) => {
      seen.push(h);
      return Uint8Array.of(2);
    });
    expect(i.readMessage(m2)).toEqual(Uint8Array.of(2));
    expect(toHex(i.payloadHash!)).toBe(toHex(seen[0]!));
    expect(toHex(r.payloadHash!)).toBe(toHex(seen[0]!));
    const m3 = i.writeMessage((h) => {
      seen.push(h);
      return Uint8Array.of(3);
    });
    r.readMessage(m3);
    expect(toHex(r.payloadHash!)).toBe(toHex(seen[1]!));
    // Each message's payload hash differs, and none is the final handshake hash, which
    // also covers the payload itself.
    expect(toHex(seen[0]!)).not.toBe(toHex(seen[1]!));
    expect(toHex(r.result().handshakeHash)).not.toBe(toHex(seen[1]!));
    expect(toHex(i.result().handshakeHash)).toBe(toHex(r.result().handshakeHash));
  });

  it('any bytes as message 2 or 3 give a HandshakeError, never a crash', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), fc.boolean(), (junk, atResponder) => {
        const [i, r] = pair();
        r.readMessage(i.writeMessage());
        if (atResponder) {
          i.readMessage(r.writeMessage());
          expect(() => r.readMessage(junk)).toThrow(HandshakeError);
        } else {
          expect(() => i.readMessage(junk)).toThrow(HandshakeError);
        }
      }),
      { numRuns: 200 },
    );
  });
});
