/**
 * A browser WebSocket seen as the byte stream keyway's handshake and channel run over
 * (docs/protocol.md, "WebSocket transport"): binary messages whose bytes are appended in
 * order, messages of at most 64 KiB sent. It implements the part of a Node `Duplex` the
 * secure channel uses — `data`/`end`/`close`/`error`/`drain` events, pause and resume,
 * write with cork and uncork, end and destroy, `writableLength` — with no Node built-in.
 * Send backpressure is the WebSocket's `bufferedAmount`, which browsers expose without a
 * drain event, so it is polled while above the mark.
 */

/** The largest message a keyway peer sends (docs/protocol.md): 64 KiB. */
export const WEBSOCKET_MESSAGE_BYTES = 64 * 1024;

/** Bytes waiting to be sent above which `writableNeedDrain` is true: 64 KiB. */
const HIGH_WATER_MARK = 64 * 1024;

/** How often `bufferedAmount` is checked while a writer waits for it to drain. */
const DRAIN_POLL_MS = 10;

type Listener = (...args: never[]) => void;

/**
 * An open browser WebSocket as a byte stream.
 * @internal used by the browser `connect()`
 */
export class WebSocketByteStream {
  readonly remoteAddress: undefined = undefined;
  readonly #ws: WebSocket;
  readonly #listeners = new Map<string, Set<Listener>>();
  /** Received bytes not yet emitted (paused, or delivery pending). */
  readonly #inbox: Uint8Array[] = [];
  /** Bytes written while corked. */
  #outbox: Uint8Array[] = [];
  #outboxBytes = 0;
  #corks = 0;
  /** null until pause() or a `data` listener decides, as in Node's Readable. */
  #flowing: boolean | null = null;
  #delivering = false;
  #remoteEnded = false;
  #endEmitted = false;
  #destroyed = false;
  #drainTimer: ReturnType<typeof setInterval> | undefined;

  /** @param ws an open WebSocket */
  constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.binaryType = 'arraybuffer';
    ws.addEventListener('message', (event: MessageEvent) => {
      if (!(event.data instanceof ArrayBuffer)) {
        this.destroy(new TypeError('a text message arrived; keyway speaks binary'));
        return;
      }
      this.#inbox.push(new Uint8Array(event.data));
      this.#scheduleDelivery();
    });
    ws.addEventListener('close', () => {
      this.#remoteEnded = true;
      this.#scheduleDelivery();
    });
    ws.addEventListener('error', () => {
      this.destroy(new Error('the WebSocket failed'));
    });
  }

  /** True once destroyed. */
  get destroyed(): boolean {
    return this.#destroyed;
  }

  /** Bytes written and not yet handed to the network (corked plus `bufferedAmount`). */
  get writableLength(): number {
    return this.#outboxBytes + this.#ws.bufferedAmount;
  }

  /** True while more than 64 KiB wait to be sent. */
  get writableNeedDrain(): boolean {
    return this.writableLength > HIGH_WATER_MARK;
  }

  on(event: string, listener: Listener): this {
    let set = this.#listeners.get(event);
    if (!set) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    set.add(listener);
    if (event === 'data' && this.#flowing === null) this.resume();
    if (event === 'drain') this.#watchDrain();
    return this;
  }

  once(event: string, listener: Listener): this {
    const wrapped = ((...args: never[]) => {
      this.off(event, wrapped);
      listener.apply(this, args);
    }) as Listener;
    return this.on(event, wrapped);
  }

  off(event: string, listener: Listener): this {
    this.#listeners.get(event)?.delete(listener);
    return this;
  }

  removeListener(event: string, listener: Listener): this {
    return this.off(event, listener);
  }

  pause(): this {
    this.#flowing = false;
    return this;
  }

  resume(): this {
    this.#flowing = true;
    this.#scheduleDelivery();
    return this;
  }

  isPaused(): boolean {
    return this.#flowing === false;
  }

  cork(): void {
    this.#corks++;
  }

  uncork(): void {
    if (this.#corks > 0) this.#corks--;
    if (this.#corks === 0) this.#flush();
  }

  write(chunk: Uint8Array): boolean {
    if (this.#destroyed) return false;
    this.#outbox.push(chunk);
    this.#outboxBytes += chunk.length;
    if (this.#corks === 0) this.#flush();
    return !this.writableNeedDrain;
  }

  end(): this {
    this.#flush();
    if (this.#ws.readyState === WebSocket.OPEN) this.#ws.close(1000);
    return this;
  }

  destroy(error?: Error): this {
    if (this.#destroyed) return this;
    this.#destroyed = true;
    this.#outbox = [];
    this.#outboxBytes = 0;
    if (this.#drainTimer !== undefined) clearInterval(this.#drainTimer);
    const ws = this.#ws;
    if (ws.readyState === WebSocket.CONNECTING || ws.readyState === WebSocket.OPEN) {
      ws.close(error ? 4000 : 1000);
    }
    // Node emits these after the current operation; so do we, so listeners added right
    // after destroy() still hear them.
    setTimeout(() => {
      if (error) this.#emit('error', error);
      this.#emit('close');
    }, 0);
    return this;
  }

  #emit(event: string, ...args: unknown[]): void {
    const set = this.#listeners.get(event);
    if (!set) return;
    // With the stream as `this`, as Node's EventEmitter calls listeners: the secure
    // channel's listeners, shared by every channel, find their channel through it.
    for (const listener of [...set]) (listener as (...a: unknown[]) => void).apply(this, args);
  }

  /** Delivers asynchronously, as Node does after resume(): a caller may listen first. */
  #scheduleDelivery(): void {
    if (this.#delivering) return;
    this.#delivering = true;
    queueMicrotask(() => {
      this.#delivering = false;
      this.#deliver();
    });
  }

  #deliver(): void {
    while (this.#flowing === true && this.#inbox.length > 0 && !this.#destroyed) {
      this.#emit('data', this.#inbox.shift()!);
    }
    if (this.#remoteEnded && this.#inbox.length === 0 && !this.#endEmitted && !this.#destroyed) {
      if (this.#flowing !== true) return;
      this.#endEmitted = true;
      this.#emit('end');
      this.destroy();
    }
  }

  #flush(): void {
    if (this.#outboxBytes === 0) return;
    const ws = this.#ws;
    const chunks = this.#outbox;
    const total = this.#outboxBytes;
    this.#outbox = [];
    this.#outboxBytes = 0;
    if (ws.readyState !== WebSocket.OPEN) return;
    const joined = new Uint8Array(total);
    let at = 0;
    for (const chunk of chunks) {
      joined.set(chunk, at);
      at += chunk.length;
    }
    for (let start = 0; start < total; start += WEBSOCKET_MESSAGE_BYTES) {
      ws.send(joined.subarray(start, start + WEBSOCKET_MESSAGE_BYTES));
    }
  }

  /** Polls `bufferedAmount` while someone waits for `drain`. */
  #watchDrain(): void {
    if (this.#drainTimer !== undefined) return;
    this.#drainTimer = setInterval(() => {
      if (this.#destroyed || !this.writableNeedDrain) {
        clearInterval(this.#drainTimer);
        this.#drainTimer = undefined;
        if (!this.#destroyed) this.#emit('drain');
      }
    }, DRAIN_POLL_MS);
  }
}
