/**
 * A WebSocket seen as the byte stream keyway's handshake and channel run over
 * (docs/protocol.md, "WebSocket transport"). Binary messages carry the same bytes a TCP
 * connection would; their boundaries mean nothing, so the frame reader above is unchanged.
 * Text messages are a protocol violation. Backpressure both ways: a write completes only
 * once `ws` has handed it to the socket (what `bufferedAmount` counts), and a reader that
 * stops reading pauses the WebSocket's socket.
 */
import { Duplex } from 'node:stream';
import { KeywayError } from '@keyway/core';
import type { RawData, WebSocket } from 'ws';

/** The largest WebSocket message a keyway peer sends, and the default a server accepts: 64 KiB. */
export const WEBSOCKET_MESSAGE_BYTES = 64 * 1024;

/** A text message, or anything but bytes, arrived on a keyway WebSocket. */
export class WebSocketProtocolError extends KeywayError {
  constructor(message: string) {
    super('ERR_WEBSOCKET_PROTOCOL', message);
  }
}

/** Options of {@link WebSocketStream}. */
export interface WebSocketStreamOptions {
  /** The peer's address, for logs and limits. */
  remoteAddress?: string | undefined;
  /** The peer's port. */
  remotePort?: number | undefined;
  /** Largest message this side sends; default {@link WEBSOCKET_MESSAGE_BYTES}. */
  maxMessageBytes?: number;
}

/**
 * Wraps an open `ws` WebSocket as a Node Duplex of bytes.
 * @internal used by the servers' WebSocket listener and `connectWebSocket`
 */
export class WebSocketStream extends Duplex {
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  readonly #ws: WebSocket;
  readonly #maxMessage: number;
  #paused = false;

  constructor(ws: WebSocket, options: WebSocketStreamOptions = {}) {
    super({ allowHalfOpen: false });
    this.#ws = ws;
    this.remoteAddress = options.remoteAddress;
    this.remotePort = options.remotePort;
    this.#maxMessage = options.maxMessageBytes ?? WEBSOCKET_MESSAGE_BYTES;
    ws.binaryType = 'nodebuffer';
    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (!isBinary) {
        this.destroy(new WebSocketProtocolError('a text message arrived; keyway speaks binary'));
        return;
      }
      const chunks = Array.isArray(data) ? data : [data];
      for (const chunk of chunks) {
        const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as ArrayBuffer);
        if (!this.push(bytes) && !this.#paused) {
          this.#paused = true;
          ws.pause();
        }
      }
    });
    // As a TCP socket's EOF: the reader sees the end after the bytes before it, and with
    // allowHalfOpen off the writable side ends too.
    ws.on('close', () => this.push(null));
    ws.on('error', (error: Error) => this.destroy(error));
  }

  override _read(): void {
    if (this.#paused) {
      this.#paused = false;
      this.#ws.resume();
    }
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (e?: Error) => void): void {
    this.#send([chunk], callback);
  }

  override _writev(
    chunks: { chunk: Buffer; encoding: BufferEncoding }[],
    callback: (e?: Error) => void,
  ): void {
    this.#send(
      chunks.map((c) => c.chunk),
      callback,
    );
  }

  override _final(callback: (e?: Error) => void): void {
    if (this.#ws.readyState === this.#ws.OPEN) this.#ws.close(1000);
    callback();
  }

  override _destroy(error: Error | null, callback: (e: Error | null) => void): void {
    const ws = this.#ws;
    if (ws.readyState === ws.CONNECTING || ws.readyState === ws.OPEN) {
      // An orderly close after an error would wait for the peer's reply; a broken or
      // refused connection ends at once.
      if (error) ws.terminate();
      else ws.close(1000);
    }
    callback(error);
  }

  /** Sends `chunks` as messages of at most `maxMessageBytes`, calling back once all are flushed. */
  #send(chunks: readonly Buffer[], callback: (e?: Error) => void): void {
    const ws = this.#ws;
    if (ws.readyState !== ws.OPEN) {
      callback(new WebSocketProtocolError('the WebSocket is closed'));
      return;
    }
    const joined = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
    if (joined.length === 0) {
      callback();
      return;
    }
    let pending = 0;
    let failed = false;
    const done = (error?: Error) => {
      if (failed) return;
      if (error) {
        failed = true;
        callback(error);
        return;
      }
      if (--pending === 0) callback();
    };
    for (let at = 0; at < joined.length; at += this.#maxMessage) {
      pending++;
      ws.send(joined.subarray(at, at + this.#maxMessage), { binary: true }, done);
    }
  }
}
