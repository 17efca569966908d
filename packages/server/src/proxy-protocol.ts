/**
 * The PROXY protocol at accept: which peers may send a header (the load balancers), and
 * the async driver that reads it off a socket before the handshake, under the handshake
 * deadline, handing any bytes after it back to the socket. A trusted peer must send a
 * header; any other peer that starts with a PROXY signature is refused, so that a client
 * cannot claim an address of its choosing. docs/security.md, "Behind a load balancer".
 */
import type { Socket } from 'node:net';
import { TimeoutError } from '@keyway/core';
import { CidrList } from '@keyway/secure';
import { ProxyProtocolError } from './errors.js';
import {
  DEFAULT_PROXY_HEADER_MAX_BYTES,
  MIN_PROXY_HEADER_MAX_BYTES,
  type ProxyHeader,
  parseProxyHeader,
  proxySignature,
} from './proxy-header.js';

/** The `proxyProtocol` option of every server. */
export interface ProxyProtocolOptions {
  /**
   * The load balancers: CIDR blocks (`10.0.0.0/8`, `::1`) of the peers that must send a
   * PROXY header (v1 or v2), and the word `unix` for every peer of a Unix-socket listener
   * (whose file mode decides who that can be). Other peers connect directly, and one that
   * sends a header is refused.
   */
  readonly trusted: readonly string[];
  /** Bound on a v2 header, TLVs included, in bytes. Default 1024 (v1 is 107 by rule). */
  readonly maxHeaderBytes?: number;
}

/** The checked form of {@link ProxyProtocolOptions}. */
export class ProxyTrust {
  readonly #cidrs: CidrList;
  readonly #unix: boolean;
  readonly maxHeaderBytes: number;

  /**
   * @throws {TypeError} when `trusted` is not an array of strings
   * @throws {RangeError} naming an entry that is not a CIDR block, or a bad `maxHeaderBytes`
   */
  constructor(options: ProxyProtocolOptions) {
    if (typeof options !== 'object' || options === null || !Array.isArray(options.trusted)) {
      throw new TypeError('proxyProtocol must be { trusted: [cidr, ...] }');
    }
    this.#unix = options.trusted.includes('unix');
    this.#cidrs = new CidrList(options.trusted.filter((entry) => entry !== 'unix'));
    const max = options.maxHeaderBytes ?? DEFAULT_PROXY_HEADER_MAX_BYTES;
    if (!Number.isInteger(max) || max < MIN_PROXY_HEADER_MAX_BYTES || max > 16 + 65535) {
      throw new RangeError(
        `proxyProtocol.maxHeaderBytes must be an integer ${MIN_PROXY_HEADER_MAX_BYTES}..65551, got ${String(max)}`,
      );
    }
    this.maxHeaderBytes = max;
  }

  /**
   * Whether the peer is a trusted balancer.
   * @param address the socket's `remoteAddress`, undefined on a Unix-socket listener
   */
  trusts(address: string | undefined): boolean {
    return address === undefined ? this.#unix : this.#cidrs.contains(address);
  }
}

/**
 * Reads a trusted balancer's header off `socket`.
 * @returns the header; the bytes after it are back in the socket, unread
 * @throws {ProxyProtocolError} as {@link parseProxyHeader}, or `ERR_PROXY_HEADER_TRUNCATED`
 *   when the peer hung up mid-header; {@link TimeoutError} after `timeoutMs`
 */
export function readProxyHeader(
  socket: Socket,
  maxBytes: number,
  timeoutMs: number,
): Promise<ProxyHeader> {
  return readPrefix(socket, timeoutMs, (bytes) => {
    const parse = parseProxyHeader(bytes, maxBytes);
    return parse.done ? { value: parse.header, consumed: parse.consumed } : undefined;
  });
}

/**
 * Looks at the first bytes of an untrusted peer, and refuses a PROXY header. Resolves as
 * soon as the bytes cannot start one; they stay in the socket, unread.
 * @throws {ProxyProtocolError} `ERR_PROXY_HEADER_UNTRUSTED`; {@link TimeoutError}
 */
export function refuseProxyHeader(socket: Socket, timeoutMs: number): Promise<void> {
  return readPrefix(socket, timeoutMs, (bytes, ended) => {
    const signature = proxySignature(bytes);
    if (signature === 'yes') {
      throw new ProxyProtocolError(
        'ERR_PROXY_HEADER_UNTRUSTED',
        'a PROXY protocol header from a peer not in proxyProtocol.trusted',
      );
    }
    return signature === 'no' || ended ? { value: undefined, consumed: 0 } : undefined;
  });
}

/**
 * Reads from `socket` until `decide` answers, then puts back what it did not consume.
 * `decide` is called with everything read so far; `ended` is true once the peer finished
 * sending (a last chance to answer).
 */
function readPrefix<T>(
  socket: Socket,
  timeoutMs: number,
  decide: (bytes: Uint8Array, ended: boolean) => { value: T; consumed: number } | undefined,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let buffered: Buffer = Buffer.alloc(0);
    let ended = false;
    const finish = (error: Error | undefined, value?: T) => {
      clearTimeout(timer);
      socket.off('readable', onReadable);
      socket.off('end', onEnd);
      socket.off('close', onClose);
      if (error) reject(error);
      else resolve(value as T);
    };
    const step = () => {
      let verdict: { value: T; consumed: number } | undefined;
      try {
        verdict = decide(buffered, ended);
      } catch (error) {
        finish(error as Error);
        return;
      }
      if (verdict) {
        const rest = buffered.subarray(verdict.consumed);
        finish(undefined, verdict.value);
        // After EOF the stream takes no bytes back; the peer is gone, so is the connection.
        if (rest.length > 0 && ended) socket.destroy();
        else if (rest.length > 0) socket.unshift(rest);
        return;
      }
      if (ended) {
        finish(
          new ProxyProtocolError(
            'ERR_PROXY_HEADER_TRUNCATED',
            'the peer closed before the PROXY header was complete',
          ),
        );
      }
    };
    const onReadable = () => {
      let chunk: Buffer | null = socket.read() as Buffer | null;
      let grew = false;
      while (chunk !== null) {
        buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
        grew = true;
        chunk = socket.read() as Buffer | null;
      }
      if (grew) step();
    };
    const onEnd = () => {
      ended = true;
      step();
    };
    const onClose = () => {
      if (!ended) {
        ended = true;
        step();
      }
    };
    const timer = setTimeout(() => {
      finish(new TimeoutError(`no PROXY header decision within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('readable', onReadable);
    socket.on('end', onEnd);
    socket.on('close', onClose);
  });
}
