/**
 * Byte streams (docs/protocol.md §10): a `ReadableStream<Uint8Array>` sent to the peer
 * crosses as a reference to a {@link ByteSource} (tag 8) and arrives as a fresh
 * `ReadableStream<Uint8Array>` that pulls its bytes with ITERATE requests carrying a
 * credit ("up to N bytes"). Several requests in flight make the receiver's window; the
 * owner reads its source only when asked, so neither side buffers more than the window,
 * whatever the size of the stream. Cancelling the reader cancels its requests and
 * releases the reference, which cancels the owner's source; the connection closing does
 * both. Only Web streams are used here: core runs in browsers as well as in Node.
 */
import { Operation } from './access-gate.js';
import { ConnectionClosedError, LimitExceededError, ProtocolError } from './errors.js';
import { OutOfLineBytes, ReceivedPart } from './message-parts.js';
import { type RefHost, resultFromWire, TAG_ARRAY } from './serialize.js';
import type { Session } from './session.js';
import { type Question, type StubState, stubStateOf } from './stub.js';

/**
 * Default bytes a receiver lets be in flight (requested, not yet read) per stream: 4 MiB,
 * four reads of 1 MiB, enough to keep both ends busy through a pause of either of
 * several milliseconds (a garbage collection, a busy CPU).
 */
export const DEFAULT_STREAM_WINDOW_BYTES = 4 * 1024 * 1024;
/**
 * Largest credit of one request (and so bytes of one answer): 1 MiB, four reads in flight
 * in the default window. A read is a round trip through both engines (a request, a
 * wake-up of the owner, an answer), so fewer, larger reads keep both ends busier
 * (benchmarks/README.md, "Byte streams"). An answer is one message: a call made meanwhile
 * on the same connection waits behind at most 1 MiB of it. The chunks of an answer travel
 * as out-of-line parts, so an answer longer than a frame of the secure channel is neither
 * copied into the message by the encoder nor joined by the receiver: each part is sealed
 * from the owner's chunk, and the reader gets the frames it was opened in.
 */
export const STREAM_CHUNK_BYTES = 1024 * 1024;

/**
 * Below this average size, the chunks of one answer are merged into one; a chunk of at
 * least this size travels out of line (message-parts.ts), a smaller one inside the message.
 */
const SMALL_CHUNK = 4096;

const NOT_YET: unique symbol = Symbol('not yet');

/**
 * Marks an iterable of byte chunks as a byte stream: it is sent to the peer as a stream
 * with flow control (arriving as a `ReadableStream<Uint8Array>`), not as an iterable of
 * values. Its `return()` runs when the reader cancels or the connection closes.
 * @param source Chunks of bytes, sync or async (e.g. an async generator).
 * @returns A `ReadableStream<Uint8Array>` reading `source` on demand.
 * @throws {TypeError} If `source` is not iterable, or is itself a typed array.
 * @example
 * async *lines() { yield encoder.encode('a\n'); }
 * download() { return byteStream(this.lines()); }
 */
export function byteStream(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
): ReadableStream<Uint8Array> {
  const make =
    (source as AsyncIterable<Uint8Array>)?.[Symbol.asyncIterator] ??
    (source as Iterable<Uint8Array>)?.[Symbol.iterator];
  // A Uint8Array is itself iterable, of numbers: a likely slip for `[bytes]`.
  if (typeof make !== 'function' || ArrayBuffer.isView(source))
    throw new TypeError('source must be an iterable of Uint8Array chunks');
  let iterator: AsyncIterator<Uint8Array> | Iterator<Uint8Array> | undefined;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        iterator ??= make.call(source) as AsyncIterator<Uint8Array>;
        const step = await iterator.next();
        if (step.done === true) controller.close();
        else controller.enqueue(step.value);
      },
      async cancel() {
        await iterator?.return?.();
      },
    },
    { highWaterMark: 0 },
  );
}

/** One answer to a read: the next bytes, at most the credit, and whether the stream ended. */
interface ReadAnswer {
  chunks: Uint8Array[];
  done: boolean;
}

/** An answer as it arrives: its out-of-line chunks still as the transport delivered them. */
interface ReceivedAnswer {
  chunks: (Uint8Array | ReceivedPart)[];
  done: boolean;
}

/** An answer as the owner sends it: its larger chunks marked to travel out of line. */
interface OutgoingAnswer {
  chunks: (Uint8Array | OutOfLineBytes)[];
  done: boolean;
}

/**
 * The owner's end of a stream sent to the peer: exported by reference, read only by the
 * peer's ITERATE requests (`_read`, clamped by the session) and closed when released.
 */
export class ByteSource {
  #reader: ReadableStreamDefaultReader<unknown> | undefined;
  /** A read of the source that was not ready when the last answer went out. */
  #pending: ReturnType<ReadableStreamDefaultReader<unknown>['read']> | undefined;
  /** The rest of a chunk larger than the credit that carried its start. */
  #leftover: Uint8Array | undefined;
  #done = false;
  /** Reads run one after another, so answers leave in the order the requests came. */
  #queue: Promise<unknown> = Promise.resolve();

  /** @throws {TypeError} If the stream is locked (someone else reads it). */
  constructor(stream: ReadableStream<unknown>) {
    if (stream.locked) throw new TypeError('a locked ReadableStream cannot be sent to the peer');
    this.#reader = stream.getReader();
  }

  // `_` names are never exposed by the gate; only the session's ITERATE reaches this.
  _read(credit: number): Promise<OutgoingAnswer> {
    const run = this.#queue.then(() => this.#gather(credit));
    this.#queue = run.catch(() => {});
    return run;
  }

  async #gather(credit: number): Promise<OutgoingAnswer> {
    const chunks: Uint8Array[] = [];
    let size = 0;
    while (size < credit) {
      let chunk = this.#leftover;
      this.#leftover = undefined;
      if (chunk === undefined) {
        const reader = this.#reader;
        if (reader === undefined || this.#done) break;
        const next = this.#pending ?? reader.read();
        this.#pending = undefined;
        // Bytes in hand are not held back for a source that is slow to give more.
        const result = size === 0 ? await next : await soon(next);
        if (result === NOT_YET) {
          this.#pending = next;
          break;
        }
        if (result.done === true) {
          this.#finish();
          break;
        }
        if (!(result.value instanceof Uint8Array)) {
          this._close();
          throw new TypeError('a byte stream must yield Uint8Array chunks');
        }
        chunk = result.value;
      }
      const room = credit - size;
      if (chunk.byteLength > room) {
        this.#leftover = chunk.subarray(room);
        chunk = chunk.subarray(0, room);
      }
      if (chunk.byteLength > 0) chunks.push(chunk);
      size += chunk.byteLength;
    }
    // Many small chunks (a generator of lines) travel as one: a byte string each would
    // cost more to frame than to copy.
    const merged =
      chunks.length > 1 && size / chunks.length < SMALL_CHUNK ? [concat(chunks, size)] : chunks;
    // Out of line, a chunk is sealed straight from the source's buffer (no copy into the
    // encoder's) and arrives in memory of its own (no copy out of the decoded message).
    const wire = merged.map((bytes) =>
      bytes.byteLength >= SMALL_CHUNK ? new OutOfLineBytes(bytes) : bytes,
    );
    return { chunks: wire, done: this.#done && this.#leftover === undefined };
  }

  #finish(): void {
    this.#done = true;
    this.#pending = undefined;
    this.#reader?.releaseLock();
    this.#reader = undefined;
  }

  /** Cancels the source (the peer released the stream, or the connection closed). */
  _close(): unknown {
    const reader = this.#reader;
    this.#done = true;
    this.#leftover = undefined;
    this.#pending = undefined;
    this.#reader = undefined;
    if (reader === undefined) return undefined;
    return reader.cancel().catch(() => {});
  }
}

/** Whether `value` is the owner's end of a stream (for the session's dispatch). */
export function isByteSource(value: unknown): value is ByteSource {
  return value instanceof ByteSource;
}

/** The credit a peer asked for, bounded by ours (at least one byte). */
export function clampCredit(raw: unknown, max: number): number {
  return typeof raw === 'number' && Number.isInteger(raw) && raw >= 1 ? Math.min(raw, max) : max;
}

function concat(chunks: readonly Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  return out;
}

/**
 * Microtask turns a read may take before a timer is armed for it: the next chunk of a
 * source that computes its chunks (a pull that enqueues at once, an async generator behind
 * `byteStream()`) arrives within a few.
 */
const MICROTASK_TURNS = 16;

/** `promise`'s value if it settles within a timer turn, else {@link NOT_YET}. */
async function soon<T>(promise: Promise<T>): Promise<T | typeof NOT_YET> {
  let settled = false;
  const mark = () => {
    settled = true;
  };
  promise.then(mark, mark);
  // A read of a source with chunks queued, or computing them, settles in a few turns of
  // the microtask queue: no timer for it (one per chunk would cost more than the chunk).
  for (let turn = 0; turn < MICROTASK_TURNS && !settled; turn++) await undefined;
  if (settled) return promise;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<typeof NOT_YET>((resolve) => {
    timer = setTimeout(() => resolve(NOT_YET), 0);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/**
 * The receiver's end: a `ReadableStream<Uint8Array>` over the peer's stream `state`.
 * Each read asks for the next bytes; up to `window` bytes are requested ahead in requests
 * of at most `chunk` bytes.
 */
export function remoteByteStream(
  session: Session,
  state: StubState,
  window: number,
  chunk: number,
): ReadableStream<Uint8Array> {
  const credit = Math.max(1, Math.min(chunk, window));
  // Reads wait for the owner's source, which may be slow: no deadline (liveness covers a
  // dead peer).
  const reading = stubStateOf(state.withOptions({ timeout: 0 }))!;
  const inflight: Question[] = [];
  let requested = 0;
  let ended = false;
  let released = false;

  const release = (reason?: unknown) => {
    ended = true;
    if (released) return;
    released = true;
    // Requests still in flight are cancelled on both sides, so a source that never answers
    // leaves nothing pending; the release then closes the source.
    for (const q of inflight) {
      q.promise().catch(() => {});
      session.cancelRequest(q, reason ?? new ConnectionClosedError('the stream was cancelled'));
    }
    inflight.length = 0;
    session.release(state);
  };
  const topUp = () => {
    while (!ended && requested + credit <= Math.max(window, credit)) {
      const question = session.request(reading, Operation.Iterate, [credit]);
      question.decodeAnswer = answerFromWire;
      inflight.push(question);
      requested += credit;
    }
  };

  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        topUp();
        // The head stays listed while awaited, so that a cancel now cancels it too.
        const head = inflight[0];
        if (head === undefined) return;
        let answer: ReadAnswer;
        try {
          answer = checkAnswer(await head.promise(), credit);
        } catch (error) {
          release(error);
          throw error;
        } finally {
          if (inflight[0] === head) inflight.shift();
          requested -= credit;
        }
        for (const bytes of answer.chunks) controller.enqueue(bytes);
        if (answer.done) {
          // Reads sent past the end would each come back empty: cancelled instead.
          release();
          controller.close();
        }
        // No new request until this answer is read (the next pull): bytes requested plus
        // bytes waiting to be read stay within the window.
      },
      cancel(reason) {
        release(reason);
      },
    },
    { highWaterMark: 0 },
  );
}

/**
 * Reads the value of an answer to a read off the wire: `{ chunks, done }`, its chunks kept
 * as they arrived (out-of-line parts as the transport delivered them, small chunks copied
 * out of the message). Anything else is decoded as any call's result, for
 * {@link checkAnswer} to refuse (its references are then released as usual).
 */
function answerFromWire(raw: unknown, host: RefHost): unknown {
  if (raw instanceof Map && raw.size === 2) {
    const list = raw.get('chunks') as unknown;
    const done = raw.get('done') as unknown;
    if (Array.isArray(list) && list[0] === TAG_ARRAY && typeof done === 'boolean') {
      const chunks: (Uint8Array | ReceivedPart)[] = [];
      for (let i = 1; i < list.length; i++) {
        const item = list[i] as unknown;
        if (item instanceof ReceivedPart) chunks.push(item);
        // A chunk inside the message: a fresh copy, never a view of the message.
        else if (item instanceof Uint8Array) chunks.push(new Uint8Array(item));
        else return resultFromWire(raw, host);
      }
      return { chunks, done } satisfies ReceivedAnswer;
    }
  }
  return resultFromWire(raw, host);
}

/**
 * Checks an answer of the owner (chunks of bytes, no more than the credit in total) and
 * takes its chunks: an out-of-line chunk as the pieces it arrived in (the frames of the
 * secure channel), uncopied, pieces of one buffer that follow each other joined as one
 * view.
 */
function checkAnswer(raw: unknown, credit: number): ReadAnswer {
  const record = raw as { chunks?: unknown; done?: unknown } | null;
  if (typeof record !== 'object' || record === null || !Array.isArray(record.chunks))
    throw new ProtocolError('malformed byte stream answer');
  let size = 0;
  for (const bytes of record.chunks) {
    if (!(bytes instanceof Uint8Array || bytes instanceof ReceivedPart))
      throw new ProtocolError('malformed byte stream answer');
    size += bytes.byteLength;
  }
  if (size > credit)
    throw new LimitExceededError(
      `the peer sent ${size} bytes of a stream for a credit of ${credit}`,
    );
  const chunks: Uint8Array[] = [];
  for (const item of record.chunks as (Uint8Array | ReceivedPart)[]) {
    if (item instanceof Uint8Array) {
      if (item.byteLength > 0) chunks.push(item);
      continue;
    }
    for (const piece of item.takeChunks()) {
      if (piece.byteLength === 0) continue;
      const last = chunks[chunks.length - 1];
      if (
        last !== undefined &&
        last.buffer === piece.buffer &&
        last.byteOffset + last.byteLength === piece.byteOffset
      )
        chunks[chunks.length - 1] = new Uint8Array(
          last.buffer,
          last.byteOffset,
          last.byteLength + piece.byteLength,
        );
      else chunks.push(piece);
    }
  }
  return { chunks, done: record.done === true };
}
