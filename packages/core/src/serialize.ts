/**
 * Values on the wire (docs/protocol.md §4). A value becomes a tree
 * msgpackr can write without extensions; every msgpack array in value position is a
 * tagged structure `[tag, ...]`, so user arrays, Maps, Sets, errors and references can
 * never be confused with one another, and msgpack maps are always plain objects with
 * string keys. On arrival plain objects are rebuilt with a null prototype.
 *
 * Tags: 0 array, 1 Map, 2 Set, 3 Error, 4 typed array / ArrayBuffer, 5 reference owned
 * by the sender, 6 reference owned by the receiver (coming home, optional path), 7 answer
 * of a pipelined call in the receiver's answer table (optional path), 8 byte stream owned
 * by the sender (a reference read with credit, `byte-stream.ts`), 15 out-of-line bytes
 * (a placeholder the codec writes and resolves, message-parts.ts).
 */
import { ProtocolError, RemoteError } from './errors.js';
import { OUT_OF_LINE_MIN_BYTES, OutOfLineBytes, ReceivedPart } from './message-parts.js';
import { isByRef } from './service.js';

export const TAG_ARRAY = 0;
export const TAG_MAP = 1;
export const TAG_SET = 2;
export const TAG_ERROR = 3;
export const TAG_TYPED = 4;
export const TAG_EXPORT = 5;
export const TAG_IMPORT = 6;
export const TAG_ANSWER = 7;
export const TAG_STREAM = 8;

/** Returned by `RefHost.encodeStub` for values that are not stubs. */
export const NOT_STUB: unique symbol = Symbol('not a stub');

/** A class of errors rebuilt by name on arrival. */
export type ErrorClass = abstract new (...args: never[]) => Error;

/** What the value codec needs from the session that owns the tables. */
export interface RefHost {
  /** Encodes `value` if it is a stub of any session, else returns {@link NOT_STUB}. */
  encodeStub(value: unknown): unknown;
  /** Exports a local by-reference value and returns its id (refcount + 1). */
  exportRef(value: object): number;
  /** The stub for the sender's reference `id` (same stub while it lives). */
  importRef(id: number): unknown;
  /** Exports a `ReadableStream` of bytes for the peer to read and returns its id. */
  exportStream(stream: ReadableStream<unknown>): number;
  /** The `ReadableStream` reading the sender's byte stream `id`. */
  importStream(id: number): unknown;
  /** The local value behind our export `id`, with `path` followed through the gate. */
  localRef(id: number, path: readonly string[] | undefined): unknown;
  /** The value of a pipelined answer (may be a promise while pending). */
  answerRef(qid: number, path: readonly string[] | undefined): unknown;
  /**
   * Gives back one receipt of a value `fromWire` made and then dropped: for a stub of the
   * sender's object, the sender is told to release that one reference.
   */
  discardRef(value: unknown): void;
  readonly includeRemoteStack: boolean;
  readonly errorClasses: ReadonlyMap<string, ErrorClass>;
}

const TYPED_ARRAYS: Record<string, new (buffer: ArrayBuffer) => ArrayBufferView> = {
  Int8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
};

/** Prototypes whose instances cannot cross the wire at all. */
const REFUSED: readonly (abstract new (...a: never[]) => object)[] = [
  Promise,
  RegExp,
  WeakMap,
  WeakSet,
  WeakRef,
  DataView,
  Number,
  String,
  Boolean,
  Symbol as unknown as abstract new () => object,
];

/**
 * Converts a value to its wire tree.
 * @param depth Levels left before the value is considered too deep (or cyclic).
 * @throws {TypeError} For values that cannot be sent (symbols, promises, cycles...).
 */
export function toWire(value: unknown, host: RefHost, depth: number): unknown {
  switch (typeof value) {
    case 'string':
    case 'number':
    case 'boolean':
    case 'undefined':
    case 'bigint':
      return value;
    case 'symbol':
      throw new TypeError('a symbol cannot be sent to the peer');
    case 'function': {
      const stub = host.encodeStub(value);
      if (stub !== NOT_STUB) return stub;
      return [TAG_EXPORT, host.exportRef(value)];
    }
  }
  if (value === null) return null;
  if (depth <= 0) throw new TypeError('value is nested too deeply (or contains a cycle)');
  const object = value as object;
  if (isByRef(object)) return [TAG_EXPORT, host.exportRef(object)];
  const proto = Object.getPrototypeOf(object) as object | null;
  if (proto === Object.prototype || proto === null) {
    const out = Object.create(null) as Record<string, unknown>;
    for (const key of Object.keys(object))
      out[key] = toWire((object as Record<string, unknown>)[key], host, depth - 1);
    return out;
  }
  if (proto === Array.prototype) {
    const array = object as unknown[];
    const out = new Array<unknown>(array.length + 1);
    out[0] = TAG_ARRAY;
    for (let i = 0; i < array.length; i++) out[i + 1] = toWire(array[i], host, depth - 1);
    return out;
  }
  if (object instanceof Uint8Array) return bytesToWire(object);
  // Already out of line (the chunks of a byte stream's answer, `byte-stream.ts`).
  if (object instanceof OutOfLineBytes) return object;
  if (object instanceof Date) return object;
  if (object instanceof Error) return errorToWire(object, host, depth - 1);
  if (typeof ReadableStream === 'function' && object instanceof ReadableStream)
    return [TAG_STREAM, host.exportStream(object)];
  if (proto === Map.prototype) {
    const out: unknown[] = [TAG_MAP];
    for (const [k, v] of object as Map<unknown, unknown>)
      out.push(toWire(k, host, depth - 1), toWire(v, host, depth - 1));
    return out;
  }
  if (proto === Set.prototype) {
    const out: unknown[] = [TAG_SET];
    for (const v of object as Set<unknown>) out.push(toWire(v, host, depth - 1));
    return out;
  }
  if (object instanceof ArrayBuffer)
    return [TAG_TYPED, 'ArrayBuffer', bytesToWire(new Uint8Array(object))];
  if (ArrayBuffer.isView(object) && !(object instanceof DataView)) {
    const name = (object as { constructor: { name: string } }).constructor.name;
    if (TYPED_ARRAYS[name] !== undefined) {
      const view = object as ArrayBufferView;
      return [
        TAG_TYPED,
        name,
        bytesToWire(new Uint8Array(view.buffer, view.byteOffset, view.byteLength)),
      ];
    }
  }
  const stub = host.encodeStub(object);
  if (stub !== NOT_STUB) return stub;
  for (const refused of REFUSED)
    if (object instanceof refused)
      throw new TypeError(`a ${refused.name} cannot be sent to the peer`);
  return [TAG_EXPORT, host.exportRef(object)];
}

/** Large byte arrays travel beside the envelope, not inside it (message-parts.ts). */
function bytesToWire(bytes: Uint8Array): Uint8Array | OutOfLineBytes {
  return bytes.byteLength >= OUT_OF_LINE_MIN_BYTES ? new OutOfLineBytes(bytes) : bytes;
}

/** Encodes an error by value: name, message, code, cause, and the stack only if enabled. */
export function errorToWire(error: unknown, host: RefHost, depth: number): unknown[] {
  if (!(error instanceof Error)) {
    return [TAG_ERROR, 'Error', safeString(error), null, undefined, null];
  }
  const code = (error as { code?: unknown }).code;
  let cause: unknown;
  if (error.cause !== undefined && depth > 0) {
    try {
      cause = toWire(error.cause, host, depth - 1);
    } catch {
      cause = safeString(error.cause);
    }
  }
  return [
    TAG_ERROR,
    safeString(error.name),
    safeString(error.message),
    typeof code === 'string' ? code : null,
    cause,
    host.includeRemoteStack && typeof error.stack === 'string' ? error.stack : null,
  ];
}

function safeString(value: unknown): string {
  try {
    return String(value);
  } catch {
    return '[unprintable]';
  }
}

/**
 * Rebuilds a value from its wire tree (maps arrive as `Map` from the codec).
 * @throws {ProtocolError} For any structure the protocol does not define.
 */
export function fromWire(raw: unknown, host: RefHost): unknown {
  if (typeof raw !== 'object' || raw === null) return raw;
  if (raw instanceof Map) {
    const out = Object.create(null) as Record<string, unknown>;
    for (const [key, value] of raw as Map<string, unknown>) {
      const item = fromWire(value, host);
      // A by-value object is never thenable on arrival: `await` would hand the caller's
      // resolve and reject to a `then` the peer picked (its function, a stub, one of our
      // own functions coming home) and the call's timeout would no longer apply. A `then`
      // that cannot be called is plain data and stays.
      if (key === 'then' && typeof item === 'function') {
        host.discardRef(item);
        continue;
      }
      out[key] = item;
    }
    return out;
  }
  // A fresh Uint8Array of its own memory: never a view into the message or Node's pool.
  if (raw instanceof Uint8Array) return new Uint8Array(raw);
  if (raw instanceof ReceivedPart) return raw.take();
  if (raw instanceof Date) return raw;
  if (!Array.isArray(raw)) throw new ProtocolError('unexpected value on the wire');
  switch (raw[0]) {
    case TAG_ARRAY: {
      const out = new Array<unknown>(raw.length - 1);
      for (let i = 1; i < raw.length; i++) out[i - 1] = fromWire(raw[i], host);
      return out;
    }
    case TAG_MAP: {
      if (raw.length % 2 !== 1) throw new ProtocolError('malformed Map');
      const out = new Map<unknown, unknown>();
      for (let i = 1; i < raw.length; i += 2)
        out.set(fromWire(raw[i], host), fromWire(raw[i + 1], host));
      return out;
    }
    case TAG_SET: {
      const out = new Set<unknown>();
      for (let i = 1; i < raw.length; i++) out.add(fromWire(raw[i], host));
      return out;
    }
    case TAG_ERROR:
      return errorFromWire(raw, host, false);
    case TAG_TYPED: {
      const [, name, bytes] = raw as [number, unknown, unknown];
      if (
        !(bytes instanceof Uint8Array || bytes instanceof ReceivedPart) ||
        typeof name !== 'string'
      )
        throw new ProtocolError('malformed typed array');
      const copy = (bytes instanceof ReceivedPart ? bytes.take() : new Uint8Array(bytes))
        .buffer as ArrayBuffer;
      if (name === 'ArrayBuffer') return copy;
      const make = Object.hasOwn(TYPED_ARRAYS, name) ? TYPED_ARRAYS[name] : undefined;
      if (make === undefined) throw new ProtocolError('unknown typed array');
      try {
        return new make(copy);
      } catch (error) {
        throw new ProtocolError('malformed typed array', { cause: error });
      }
    }
    case TAG_EXPORT:
      return host.importRef(refId(raw));
    case TAG_IMPORT:
      return host.localRef(refId(raw), refPath(raw));
    case TAG_ANSWER:
      return host.answerRef(refId(raw), refPath(raw));
    case TAG_STREAM:
      return host.importStream(refId(raw));
    default:
      throw new ProtocolError('unknown tag on the wire');
  }
}

/**
 * Rebuilds the value of a RESOLVE: {@link fromWire}, and never a pending value at the top.
 * A pipelined answer (tag 7) or a path on one of our objects whose getter is asynchronous
 * (tag 6) arrives as a promise of ours; as the result of a call, `await` would adopt it
 * and wait for it past the call's timeout. An owner awaits such values before it answers,
 * so only a misbehaving peer sends one.
 * @throws {ProtocolError} For a pending value at the top, or any malformed structure.
 */
export function resultFromWire(raw: unknown, host: RefHost): unknown {
  const value = fromWire(raw, host);
  if (value instanceof Promise) {
    value.catch(() => {});
    throw new ProtocolError('a call result must not be a pending value');
  }
  return value;
}

function refId(raw: unknown[]): number {
  const id = raw[1];
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0)
    throw new ProtocolError('malformed reference');
  return id;
}

function refPath(raw: unknown[]): readonly string[] | undefined {
  if (raw.length < 3) return undefined;
  return stringPath(raw[2]);
}

/** Checks a path from the wire: an array-tagged list of strings. */
export function stringPath(raw: unknown): readonly string[] {
  if (!Array.isArray(raw)) throw new ProtocolError('malformed path');
  for (const step of raw) if (typeof step !== 'string') throw new ProtocolError('malformed path');
  return raw as string[];
}

/**
 * Rebuilds an error. Registered classes are rebuilt by name without running their
 * constructor; others become a plain `Error` (by value) or a {@link RemoteError} (thrown).
 */
export function errorFromWire(raw: unknown, host: RefHost, thrown: boolean): Error {
  if (!Array.isArray(raw) || raw[0] !== TAG_ERROR) throw new ProtocolError('malformed error');
  const [, name, message, code, rawCause, stack] = raw as unknown[];
  if (typeof name !== 'string' || typeof message !== 'string')
    throw new ProtocolError('malformed error');
  const cause = rawCause === undefined ? undefined : fromWire(rawCause, host);
  const remoteStack = typeof stack === 'string' ? stack : undefined;
  const codeText = typeof code === 'string' ? code : undefined;
  const registered = host.errorClasses.get(name);
  if (registered !== undefined) {
    const error = Object.create(registered.prototype) as Error;
    defineData(error, 'name', name);
    defineData(error, 'message', message);
    if (codeText !== undefined) defineData(error, 'code', codeText);
    if (cause !== undefined) defineData(error, 'cause', cause);
    if (remoteStack !== undefined) defineData(error, 'remoteStack', remoteStack);
    Error.captureStackTrace?.(error);
    return error;
  }
  if (thrown) return new RemoteError(name, message, { cause, code: codeText, remoteStack });
  const error = new Error(message, cause === undefined ? undefined : { cause });
  defineData(error, 'name', name);
  if (codeText !== undefined) defineData(error, 'code', codeText);
  if (remoteStack !== undefined) defineData(error, 'remoteStack', remoteStack);
  return error;
}

function defineData(target: object, key: string, value: unknown): void {
  Object.defineProperty(target, key, {
    value,
    writable: true,
    enumerable: false,
    configurable: true,
  });
}
