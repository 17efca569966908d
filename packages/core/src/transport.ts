/**
 * The message transport the RPC engine runs over. It is deliberately small so that a TCP
 * stream, a secure channel, a MessagePort or an in-memory pair all provide it (and a
 * WebSocket could; none is written yet). Other packages satisfy this shape structurally,
 * without importing it.
 */

/** Receives what a transport delivers. Installed once with {@link Transport.start}. */
export interface TransportReceiver {
  /** One whole message, in order. The receiver owns `data` from now on. */
  onMessage(data: Uint8Array): void;
  /**
   * Optional: one whole message with out-of-line parts (docs/protocol.md §2 "Out-of-line
   * parts") delivered as its head and the bytes of its parts, in order: one buffer per
   * part, or pieces cut anywhere else (the frames they arrived in, say) whose lengths add
   * up to the parts' lengths the head announces. The receiver owns all of them, and the
   * memory under them holds nothing but this message. A transport calls this only when
   * the receiver has it; otherwise it delivers the joined message to
   * {@link TransportReceiver.onMessage}.
   */
  onMessageParts?(head: Uint8Array, parts: Uint8Array[]): void;
  /** The transport closed; `error` is set when it failed rather than closed cleanly. */
  onClose(error?: Error): void;
}

/** A bidirectional, ordered, reliable message transport. */
export interface Transport {
  /** Sends one whole message. The transport owns `data` from now on. */
  send(data: Uint8Array): void;
  /**
   * Optional: sends one whole message given as pieces in order (the message is their
   * concatenation) without joining them first. The pieces remain the caller's: the
   * transport copies or consumes them before it returns, unless it documents otherwise.
   * Without it, the connection joins the pieces and calls {@link Transport.send}.
   */
  sendParts?(pieces: readonly Uint8Array[]): void;
  /** Starts delivery; messages that arrived before this call are delivered first. */
  start(receiver: TransportReceiver): void;
  /** Closes the transport; `error` says why when it is not a clean close. Idempotent. */
  close(error?: Error): void;
  /** Where the peer is, for logs and credentials (`ip:port`, a path, or a label). */
  readonly remoteAddress?: string | undefined;
}
