/**
 * keyway's authentication wire format (docs/security.md, "Authentication"): the payloads
 * carried inside Noise XX messages 2 and 3, and the few messages exchanged over the
 * channel after the handshake and before the first RPC byte.
 *
 * Message 2 (server → client, encrypted): the server's Ed25519 host key, the name of the
 * service it serves (or none), and an Ed25519 signature by the host key over
 * `"keyway/2 server signature" ‖ h ‖ hello body`, where `h` is the handshake hash the
 * payload is sent under. Message 3 (client → server, encrypted): the client's Ed25519 key
 * (or none, for an anonymous client), the user name it logs in as, the service it expects,
 * and, with a key, its signature over `"keyway/2 client signature" ‖ h ‖ hello body`.
 * The signatures make the exact key bytes the ones proven (docs/security.md, "One key,
 * one identity"); the handshake hash covers both payloads besides.
 */
import { concatBytes } from '@noble/hashes/utils.js';
import { ED25519_SIGNATURE_BYTES } from '../crypto/provider.js';
import { HandshakeError } from '../errors.js';

/** Version byte of the payload formats below (2: hellos carry signatures and a service). */
export const AUTH_WIRE_VERSION = 2;

/** Upper bound on user and service names, in UTF-8 bytes. */
export const MAX_NAME_BYTES = 255;

/** Domain-separation label of the server's signature (message 2). */
export const SERVER_SIGNATURE_LABEL: Uint8Array = new TextEncoder().encode(
  'keyway/2 server signature',
);
/** Domain-separation label of the client's signature (message 3). */
export const CLIENT_SIGNATURE_LABEL: Uint8Array = new TextEncoder().encode(
  'keyway/2 client signature',
);

/** Types of the messages exchanged over the channel while authenticating. */
export const AuthMessage = Object.freeze({
  /** server → client: every required method succeeded; RPC may begin. */
  OK: 0x01,
  /** server → client: refused. Carries no reason, whatever the reason. */
  FAIL: 0x02,
  /** server → client: prove the password (OPAQUE); the client answers with KE1. */
  PASSWORD_REQUEST: 0x10,
  /** client → server: OPAQUE KE1. */
  PASSWORD_KE1: 0x11,
  /** server → client: OPAQUE KE2. */
  PASSWORD_KE2: 0x12,
  /** client → server: OPAQUE KE3. */
  PASSWORD_KE3: 0x13,
  /** client → server: the client has no password to offer. */
  PASSWORD_UNAVAILABLE: 0x14,
} as const);

/** What the server says about itself in handshake message 2, before it signs. */
export interface ServerHelloBody {
  readonly hostKey: Uint8Array;
  /** The name of the service the server serves; absent when it has none. */
  readonly service?: string | undefined;
}

/** The server's message-2 payload. */
export interface ServerHello extends ServerHelloBody {
  /** The host key's signature over the label, the handshake hash and {@link body}. */
  readonly signature: Uint8Array;
  /** The encoded body the signature covers. */
  readonly body: Uint8Array;
}

/** What the client says about itself in handshake message 3, before it signs. */
export interface ClientHelloBody {
  /** The client's Ed25519 key; absent for an anonymous client. */
  readonly publicKey?: Uint8Array | undefined;
  readonly user?: string | undefined;
  /** The service the client expects the server to serve; absent when it names none. */
  readonly service?: string | undefined;
}

/** The client's message-3 payload. */
export interface ClientHello extends ClientHelloBody {
  /** With a key, the key's signature over the label, the handshake hash and {@link body}. */
  readonly signature?: Uint8Array | undefined;
  /** The encoded body the signature covers. */
  readonly body: Uint8Array;
}

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder('utf-8', { fatal: true });

/** What a hello's signature covers: `label ‖ h ‖ body`. */
export function helloSignedData(
  label: Uint8Array,
  payloadHash: Uint8Array,
  body: Uint8Array,
): Uint8Array {
  return concatBytes(label, payloadHash, body);
}

function nameBytes(name: string | undefined, what: string): Uint8Array {
  if (name === undefined) return new Uint8Array(0);
  const bytes = utf8.encode(name);
  if (bytes.length === 0 || bytes.length > MAX_NAME_BYTES) {
    throw new RangeError(`${what} must be 1..${MAX_NAME_BYTES} bytes of UTF-8`);
  }
  return bytes;
}

function checkSignature(signature: Uint8Array): void {
  if (!(signature instanceof Uint8Array) || signature.length !== ED25519_SIGNATURE_BYTES) {
    throw new RangeError(`signature must be ${ED25519_SIGNATURE_BYTES} bytes`);
  }
}

/**
 * Encodes the body of the server's message-2 payload: `u8 version ‖ host key (32) ‖
 * u8 length ‖ service`.
 * @throws {RangeError} on a host key that is not 32 bytes or a service name out of range
 */
export function encodeServerHelloBody(hello: ServerHelloBody): Uint8Array {
  if (hello.hostKey.length !== 32) throw new RangeError('hostKey must be 32 bytes');
  const service = nameBytes(hello.service, 'service');
  const out = new Uint8Array(34 + service.length);
  out[0] = AUTH_WIRE_VERSION;
  out.set(hello.hostKey, 1);
  out[33] = service.length;
  out.set(service, 34);
  return out;
}

/** Encodes the server's message-2 payload: the body, then the 64-byte signature. */
export function encodeServerHello(body: Uint8Array, signature: Uint8Array): Uint8Array {
  checkSignature(signature);
  return concatBytes(body, signature);
}

/** A reader over a hello that fails every short read with `bad()`. */
function helloReader(bytes: Uint8Array, bad: () => HandshakeError, who: string) {
  let at = 0;
  return {
    get at() {
      return at;
    },
    byte(): number {
      const b = bytes[at++];
      if (b === undefined) throw bad();
      return b;
    },
    take(n: number): Uint8Array {
      if (at + n > bytes.length) throw bad();
      const out = bytes.slice(at, at + n);
      at += n;
      return out;
    },
    text(n: number): string | undefined {
      if (n === 0) return undefined;
      try {
        return fromUtf8.decode(this.take(n));
      } catch (cause) {
        if (cause instanceof HandshakeError) throw cause;
        throw new HandshakeError(`${who} hello holds a name that is not UTF-8`, { cause });
      }
    },
  };
}

/** Decodes the server's message-2 payload. @throws HandshakeError */
export function decodeServerHello(bytes: Uint8Array): ServerHello {
  const bad = () => new HandshakeError('server hello is malformed or of an unknown version');
  const r = helloReader(bytes, bad, 'server');
  if (r.byte() !== AUTH_WIRE_VERSION) throw bad();
  const hostKey = r.take(32);
  const service = r.text(r.byte());
  const body = bytes.slice(0, r.at);
  const signature = r.take(ED25519_SIGNATURE_BYTES);
  if (r.at !== bytes.length) throw bad();
  return { hostKey, service, signature, body };
}

/**
 * Encodes the body of the client's message-3 payload: `u8 version ‖ u8 has-key ‖
 * [key (32)] ‖ u8 length ‖ user ‖ u8 length ‖ service`.
 * @throws {RangeError} on a key that is not 32 bytes or a name out of range
 */
export function encodeClientHelloBody(hello: ClientHelloBody): Uint8Array {
  const key = hello.publicKey;
  if (key !== undefined && key.length !== 32) throw new RangeError('publicKey must be 32 bytes');
  const user = nameBytes(hello.user, 'user');
  const service = nameBytes(hello.service, 'service');
  const out = new Uint8Array(2 + (key ? 32 : 0) + 1 + user.length + 1 + service.length);
  let at = 0;
  out[at++] = AUTH_WIRE_VERSION;
  out[at++] = key ? 1 : 0;
  if (key) {
    out.set(key, at);
    at += 32;
  }
  out[at++] = user.length;
  out.set(user, at);
  at += user.length;
  out[at++] = service.length;
  out.set(service, at);
  return out;
}

/**
 * Encodes the client's message-3 payload: the body, then the 64-byte signature exactly
 * when the body names a key.
 * @throws {RangeError} when a signature is missing for a key, or given without one
 */
export function encodeClientHello(body: Uint8Array, signature?: Uint8Array): Uint8Array {
  const hasKey = body[1] === 1;
  if (hasKey !== (signature !== undefined)) {
    throw new RangeError('a client hello carries a signature exactly when it names a key');
  }
  if (signature === undefined) return body.slice();
  checkSignature(signature);
  return concatBytes(body, signature);
}

/** Decodes the client's message-3 payload. @throws HandshakeError */
export function decodeClientHello(bytes: Uint8Array): ClientHello {
  const bad = () => new HandshakeError('client hello is malformed or of an unknown version');
  const r = helloReader(bytes, bad, 'client');
  if (r.byte() !== AUTH_WIRE_VERSION) throw bad();
  const flags = r.byte();
  if (flags > 1) throw bad();
  const publicKey = flags === 1 ? r.take(32) : undefined;
  const user = r.text(r.byte());
  const service = r.text(r.byte());
  const body = bytes.slice(0, r.at);
  const signature = publicKey ? r.take(ED25519_SIGNATURE_BYTES) : undefined;
  if (r.at !== bytes.length) throw bad();
  return { publicKey, user, service, signature, body };
}

/** One authentication message: a type byte and a body. */
export function authMessage(type: number, body?: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + (body?.length ?? 0));
  out[0] = type;
  if (body) out.set(body, 1);
  return out;
}
