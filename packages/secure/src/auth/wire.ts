/**
 * keyway's authentication wire format (docs/security.md, "Authentication"): the payloads
 * carried inside Noise XX messages 2 and 3, and the few messages exchanged over the
 * channel after the handshake and before the first RPC byte.
 *
 * Message 2 (server → client, encrypted): the server's Ed25519 host key, so the client can
 * look it up in known_hosts and check that its X25519 form is the static key the server
 * proved. Message 3 (client → server, encrypted): the client's Ed25519 key (or none, for an
 * anonymous client), the user name it logs in as and the service it asks for. Both are
 * covered by the handshake hash, so a man in the middle cannot alter them.
 */
import { HandshakeError } from '../errors.js';

/** Version byte of the payload formats below. */
export const AUTH_WIRE_VERSION = 1;

/** Upper bound on user and service names, in UTF-8 bytes. */
export const MAX_NAME_BYTES = 255;

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

/** What the server says about itself in handshake message 2. */
export interface ServerHello {
  readonly hostKey: Uint8Array;
}

/** What the client says about itself in handshake message 3. */
export interface ClientHello {
  /** The client's Ed25519 key; absent for an anonymous client. */
  readonly publicKey?: Uint8Array | undefined;
  readonly user?: string | undefined;
  /** Reserved for servers that expose several services; keyway's servers expose one. */
  readonly service?: string | undefined;
}

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Encodes the server's message-2 payload. */
export function encodeServerHello(hello: ServerHello): Uint8Array {
  if (hello.hostKey.length !== 32) throw new RangeError('hostKey must be 32 bytes');
  const out = new Uint8Array(33);
  out[0] = AUTH_WIRE_VERSION;
  out.set(hello.hostKey, 1);
  return out;
}

/** Decodes the server's message-2 payload. @throws HandshakeError */
export function decodeServerHello(bytes: Uint8Array): ServerHello {
  if (bytes.length !== 33 || bytes[0] !== AUTH_WIRE_VERSION) {
    throw new HandshakeError('server hello is malformed or of an unknown version');
  }
  return { hostKey: bytes.slice(1) };
}

function nameBytes(name: string | undefined, what: string): Uint8Array {
  if (name === undefined) return new Uint8Array(0);
  const bytes = utf8.encode(name);
  if (bytes.length === 0 || bytes.length > MAX_NAME_BYTES) {
    throw new RangeError(`${what} must be 1..${MAX_NAME_BYTES} bytes of UTF-8`);
  }
  return bytes;
}

/** Encodes the client's message-3 payload. */
export function encodeClientHello(hello: ClientHello): Uint8Array {
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

/** Decodes the client's message-3 payload. @throws HandshakeError */
export function decodeClientHello(bytes: Uint8Array): ClientHello {
  const bad = () => new HandshakeError('client hello is malformed or of an unknown version');
  let at = 0;
  const byte = (): number => {
    const b = bytes[at++];
    if (b === undefined) throw bad();
    return b;
  };
  const take = (n: number): Uint8Array => {
    if (at + n > bytes.length) throw bad();
    const out = bytes.slice(at, at + n);
    at += n;
    return out;
  };
  const text = (n: number): string | undefined => {
    if (n === 0) return undefined;
    try {
      return fromUtf8.decode(take(n));
    } catch (cause) {
      throw new HandshakeError('client hello holds a name that is not UTF-8', { cause });
    }
  };
  if (byte() !== AUTH_WIRE_VERSION) throw bad();
  const flags = byte();
  if (flags > 1) throw bad();
  const publicKey = flags === 1 ? take(32) : undefined;
  const user = text(byte());
  const service = text(byte());
  if (at !== bytes.length) throw bad();
  return { publicKey, user, service };
}

/** One authentication message: a type byte and a body. */
export function authMessage(type: number, body?: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + (body?.length ?? 0));
  out[0] = type;
  if (body) out.set(body, 1);
  return out;
}
