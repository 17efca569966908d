/**
 * The signed hellos of keyway's handshake (docs/security.md, "One key, one identity"):
 * each side sends its Ed25519 key with a signature over a keyway label, the Noise
 * handshake hash its payload travels under and the hello itself, and checks the peer's
 * the same way before it trusts or reports the key. The X25519 form of an Ed25519 key is
 * shared by 16 encodings (the sign of x, and the 8 small-order components); the signature
 * over the exact bytes, with the point checks, leaves one.
 */
import type { CryptoProvider } from '../crypto/provider.js';
import { HandshakeError, KeyFormatError } from '../errors.js';
import { ed25519PublicToX25519, type Identity, identitySign } from '../identity.js';
import { checkEd25519PublicKey } from '../openssh/public-key.js';
import { bytesEqual } from '../openssh/wire.js';
import {
  CLIENT_SIGNATURE_LABEL,
  type ClientHello,
  encodeClientHello,
  encodeClientHelloBody,
  encodeServerHello,
  encodeServerHelloBody,
  helloSignedData,
  SERVER_SIGNATURE_LABEL,
  type ServerHello,
} from './wire.js';

/**
 * The server's message-2 payload, signed over the handshake hash it is sent under.
 * @returns a payload builder for `performHandshake`'s `localPayload`
 */
export function signedServerHello(
  identity: Identity,
  service: string | undefined,
  provider: CryptoProvider,
): (payloadHash: Uint8Array) => Uint8Array {
  const body = encodeServerHelloBody({ hostKey: identity.publicKey, service });
  return (payloadHash) =>
    encodeServerHello(
      body,
      identitySign(identity, helloSignedData(SERVER_SIGNATURE_LABEL, payloadHash, body), provider),
    );
}

/**
 * The client's message-3 payload; with an identity, signed over the handshake hash it is
 * sent under.
 * @returns a payload builder for `performHandshake`'s `localPayload`
 */
export function signedClientHello(
  identity: Identity | undefined,
  names: { user?: string | undefined; service?: string | undefined },
  provider: CryptoProvider,
): (payloadHash: Uint8Array) => Uint8Array {
  const body = encodeClientHelloBody({ publicKey: identity?.publicKey, ...names });
  return (payloadHash) =>
    encodeClientHello(
      body,
      identity &&
        identitySign(
          identity,
          helloSignedData(CLIENT_SIGNATURE_LABEL, payloadHash, body),
          provider,
        ),
    );
}

/**
 * Checks the server's hello: its host key is a canonical, torsion-free Ed25519 key whose
 * X25519 form is the static key the server proved, and it signed this session's hello.
 * @throws HandshakeError otherwise (a KeyFormatError as `cause` for an unusable key)
 */
export function verifyServerHello(
  hello: ServerHello,
  remoteStatic: Uint8Array,
  payloadHash: Uint8Array,
  provider: CryptoProvider,
): void {
  verifyHelloKey('server', hello.hostKey, remoteStatic);
  const signed = helloSignedData(SERVER_SIGNATURE_LABEL, payloadHash, hello.body);
  if (!provider.verify(hello.hostKey, signed, hello.signature)) {
    throw new HandshakeError('server hello signature does not verify under its host key');
  }
}

/**
 * Checks a client's hello that names a key, as {@link verifyServerHello} does; an
 * anonymous hello passes as it is.
 * @throws HandshakeError otherwise (a KeyFormatError as `cause` for an unusable key)
 */
export function verifyClientHello(
  hello: ClientHello,
  remoteStatic: Uint8Array,
  payloadHash: Uint8Array,
  provider: CryptoProvider,
): void {
  if (hello.publicKey === undefined) return;
  verifyHelloKey('client', hello.publicKey, remoteStatic);
  const signed = helloSignedData(CLIENT_SIGNATURE_LABEL, payloadHash, hello.body);
  if (hello.signature === undefined || !provider.verify(hello.publicKey, signed, hello.signature)) {
    throw new HandshakeError('client hello signature does not verify under its key');
  }
}

function verifyHelloKey(who: 'client' | 'server', key: Uint8Array, remoteStatic: Uint8Array) {
  let x25519: Uint8Array;
  try {
    checkEd25519PublicKey(key);
    x25519 = ed25519PublicToX25519(key);
  } catch (cause) {
    if (!(cause instanceof KeyFormatError)) throw cause;
    throw new HandshakeError(`${who} hello holds an invalid Ed25519 key`, { cause });
  }
  if (!bytesEqual(x25519, remoteStatic)) {
    throw new HandshakeError(
      `${who === 'server' ? 'server host key' : 'client key'} does not match its handshake key`,
    );
  }
}
