/**
 * A scripted peer for hostile-peer tests: it speaks the wire protocol by hand (raw msgpack
 * messages as docs/protocol.md §3 lays them out) over any message transport, so a test can
 * send what no honest `Connection` would, and fast: a 100,000-message chain is one loop.
 */
import { Packr } from 'msgpackr';
import {
  joinPieces,
  layOutParts,
  PARTS_MARKER,
  splitParts,
  TAG_PART,
} from '../src/message-parts.js';
import type { Transport } from '../src/transport.js';
import { waitFor } from './helpers.js';

const raw = new Packr({ useRecords: false, useBigIntExtension: true, mapsAsObjects: true });

/** What the victim answered to one of our requests. */
export interface RawReply {
  /** 2 RESOLVE, 3 REJECT. */
  kind: number;
  /** The reply's value (RESOLVE) or error tree (REJECT). */
  value: unknown;
  /** The error code of a REJECT, `null` when it had none. */
  code: string | null;
}

/** A peer that sends raw protocol messages and records every message it receives. */
export class RawPeer {
  readonly #transport: Transport;
  readonly #record: boolean;
  /** RESOLVE and REJECT messages received, by qid (only when recording). */
  readonly replies = new Map<number, RawReply>();
  /** How many RESOLVE and REJECT messages arrived. */
  received = 0;
  /** How many REJECTs carried each error code (`null`: RESOLVE). */
  readonly counts = new Map<string | null, number>();
  /** Every other message received (hello, requests, housekeeping...). */
  readonly others: unknown[][] = [];
  closed = false;

  /** @param record Keep every reply (off: only count them, for floods of many). */
  constructor(transport: Transport, record = true) {
    this.#transport = transport;
    this.#record = record;
    transport.start({
      onMessage: (bytes) => this.#onMessage(bytes),
      onClose: () => {
        this.closed = true;
      },
    });
  }

  /** Sends our protocol hello. */
  hello(): void {
    this.send([0, 'keyway-rpc', 1]);
  }

  /** Sends one raw message. */
  send(message: unknown[]): void {
    this.#transport.send(raw.pack(message));
  }

  /**
   * Sends one raw message with out-of-line parts: `message` holds `[TAG_PART, i]` where
   * part `i` goes (docs/protocol.md §2).
   */
  sendWithParts(message: unknown[], parts: Uint8Array[]): void {
    const pieces = layOutParts(raw.pack(message), parts, Number.MAX_SAFE_INTEGER);
    if (this.#transport.sendParts !== undefined) this.#transport.sendParts(pieces);
    else this.#transport.send(joinPieces(pieces));
  }

  /** Resolves once `count` replies have arrived (bounded by `ms`). */
  async replied(count: number, ms = 30_000): Promise<void> {
    await waitFor(() => this.received >= count || this.closed, ms);
  }

  close(): void {
    this.#transport.close();
  }

  #onMessage(bytes: Uint8Array): void {
    const message = unpackMessage(bytes);
    const kind = message[0];
    if ((kind === 2 || kind === 3) && typeof message[1] === 'number') {
      const error = message[2] as unknown[] | undefined;
      const code = kind === 3 && Array.isArray(error) ? (error[3] as string | null) : null;
      this.received++;
      this.counts.set(code, (this.counts.get(code) ?? 0) + 1);
      if (this.#record) this.replies.set(message[1], { kind, value: message[2], code });
    } else this.others.push(message);
  }
}

/**
 * Decodes one message; a message with out-of-line parts (the chunks of a stream's answer,
 * large byte arrays) comes back with each part's bytes in place of its placeholder.
 */
function unpackMessage(bytes: Uint8Array): unknown[] {
  if (bytes[0] !== PARTS_MARKER) return raw.unpack(bytes) as unknown[];
  const { envelope, parts } = splitParts(bytes, undefined, Number.MAX_SAFE_INTEGER);
  const place = (value: unknown): unknown => {
    if (Array.isArray(value)) {
      if (value.length === 2 && value[0] === TAG_PART)
        return joinPieces(parts[value[1] as number]!);
      return value.map(place);
    }
    if (typeof value === 'object' && value !== null && !(value instanceof Uint8Array))
      for (const [key, item] of Object.entries(value))
        (value as Record<string, unknown>)[key] = place(item);
    return value;
  };
  return place(raw.unpack(envelope)) as unknown[];
}

/** A REQUEST calling `path` on the victim's export `id` (0: its root); `args` are wire values. */
export function callExport(qid: number, id: number, path: string[] | null, args: unknown[] = []) {
  return [1, qid, 3, 0, id, path, args, 0];
}

/** A REQUEST calling `path` on the result of our earlier request `base` (pipelining). */
export function callAnswer(qid: number, base: number, path: string[] | null) {
  return [1, qid, 3, 1, base, path, [], 0];
}
