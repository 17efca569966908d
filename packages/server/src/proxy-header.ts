/**
 * A sans-IO parser of the PROXY protocol header (HAProxy's "The PROXY protocol", versions
 * 1 and 2): the few bytes a TCP load balancer sends before the client's own, naming the
 * client's real address. Fed the bytes read so far, it answers "need more", a header with
 * the number of bytes it took, or a typed error. Strict bounds: a v1 line is at most 107
 * bytes, a v2 header at most `maxBytes`, its address block checked against its family.
 * TLVs of v2 are skipped, never interpreted. docs/security.md, "Behind a load balancer".
 */
import { isIPv4, isIPv6, SocketAddress } from 'node:net';
import { ProxyProtocolError } from './errors.js';

/** The version 1 signature, `PROXY` and a space. */
export const PROXY_V1_SIGNATURE: Uint8Array = new TextEncoder().encode('PROXY ');

/** The 12-byte version 2 signature. */
export const PROXY_V2_SIGNATURE: Uint8Array = Uint8Array.of(
  0x0d,
  0x0a,
  0x0d,
  0x0a,
  0x00,
  0x0d,
  0x0a,
  0x51,
  0x55,
  0x49,
  0x54,
  0x0a,
);

/** Longest version 1 line, CRLF included (the specification's own bound). */
export const PROXY_V1_MAX_BYTES = 107;

/** Size of a v2 header before its address block: signature, command, family, length. */
export const PROXY_V2_FIXED_BYTES = 16;

/** Default bound on a whole v2 header, TLVs included. */
export const DEFAULT_PROXY_HEADER_MAX_BYTES = 1024;

/** Smallest allowed `maxBytes`: room for the largest address block (two Unix paths). */
export const MIN_PROXY_HEADER_MAX_BYTES = PROXY_V2_FIXED_BYTES + 216;

/** One end of the proxied connection. */
export interface ProxyEndpoint {
  /** An IPv4 or IPv6 address, as Node prints a socket's `remoteAddress`. */
  readonly address: string;
  readonly port: number;
}

/** A parsed header. */
export interface ProxyHeader {
  readonly version: 1 | 2;
  /**
   * `proxy`: a relayed client; `local`: the balancer speaking for itself (a health
   * check), whose connection's own addresses stand.
   */
  readonly command: 'proxy' | 'local';
  /**
   * The client's address, when the header carries an IP one. Absent for `local`, v1
   * `UNKNOWN`, and v2 `UNSPEC` or `UNIX` families: the connection's own address stands.
   */
  readonly source?: ProxyEndpoint | undefined;
  /** The address the client dialled, alongside `source`. */
  readonly destination?: ProxyEndpoint | undefined;
}

/** What {@link parseProxyHeader} made of the bytes so far. */
export type ProxyParse =
  | { readonly done: false }
  | { readonly done: true; readonly header: ProxyHeader; readonly consumed: number };

const NEED_MORE: ProxyParse = Object.freeze({ done: false });

/**
 * Whether `bytes` start with a PROXY signature.
 * @returns `yes`, `no`, or `maybe` when `bytes` are a strict prefix of a signature
 */
export function proxySignature(bytes: Uint8Array): 'yes' | 'no' | 'maybe' {
  let verdict: 'yes' | 'no' | 'maybe' = 'no';
  for (const signature of [PROXY_V1_SIGNATURE, PROXY_V2_SIGNATURE]) {
    const n = Math.min(bytes.length, signature.length);
    let same = true;
    for (let i = 0; i < n && same; i++) same = bytes[i] === signature[i];
    if (!same) continue;
    if (bytes.length >= signature.length) return 'yes';
    verdict = 'maybe';
  }
  return verdict;
}

/**
 * Parses a PROXY header at the start of `bytes`.
 * @param bytes everything read from the connection so far
 * @param maxBytes bound on a v2 header (default {@link DEFAULT_PROXY_HEADER_MAX_BYTES})
 * @returns `{ done: false }` when more bytes are needed, else the header and its length
 * @throws {ProxyProtocolError} `ERR_PROXY_HEADER_MISSING` when the bytes start with no
 *   signature, `ERR_PROXY_HEADER_TOO_LONG` past the bounds, `ERR_PROXY_HEADER_MALFORMED`
 *   for anything else the specification does not allow
 */
export function parseProxyHeader(
  bytes: Uint8Array,
  maxBytes: number = DEFAULT_PROXY_HEADER_MAX_BYTES,
): ProxyParse {
  const signature = proxySignature(bytes);
  if (signature === 'no') {
    throw new ProxyProtocolError('ERR_PROXY_HEADER_MISSING', 'no PROXY protocol header');
  }
  if (signature === 'maybe') return NEED_MORE;
  return bytes[0] === PROXY_V1_SIGNATURE[0] ? parseV1(bytes) : parseV2(bytes, maxBytes);
}

function malformed(message: string): ProxyProtocolError {
  return new ProxyProtocolError('ERR_PROXY_HEADER_MALFORMED', `PROXY header: ${message}`);
}

function parseV1(bytes: Uint8Array): ProxyParse {
  const limit = Math.min(bytes.length, PROXY_V1_MAX_BYTES);
  let end = -1;
  for (let i = 0; i < limit; i++) {
    const byte = bytes[i] as number;
    if (byte === 0x0d) {
      end = i;
      break;
    }
    // Printable ASCII only: the line is text, and a stray byte is an attack or a bug.
    if (byte < 0x20 || byte > 0x7e) throw malformed('v1 line has a non-printable byte');
  }
  if (end < 0) {
    if (bytes.length >= PROXY_V1_MAX_BYTES) {
      throw new ProxyProtocolError(
        'ERR_PROXY_HEADER_TOO_LONG',
        `PROXY v1 line longer than ${PROXY_V1_MAX_BYTES} bytes`,
      );
    }
    return NEED_MORE;
  }
  if (end + 2 > PROXY_V1_MAX_BYTES) {
    throw new ProxyProtocolError(
      'ERR_PROXY_HEADER_TOO_LONG',
      `PROXY v1 line longer than ${PROXY_V1_MAX_BYTES} bytes`,
    );
  }
  if (end + 1 >= bytes.length) return NEED_MORE;
  if (bytes[end + 1] !== 0x0a) throw malformed('v1 line does not end with CRLF');
  const line = String.fromCharCode(...bytes.subarray(0, end));
  const consumed = end + 2;
  const fields = line.split(' ');
  if (fields[1] === 'UNKNOWN') {
    // The balancer could not tell; the rest of the line is to be ignored.
    return { done: true, header: { version: 1, command: 'proxy' }, consumed };
  }
  if (fields.length !== 6) throw malformed('v1 line needs 6 fields separated by single spaces');
  const [, family, source, destination, sourcePort, destinationPort] = fields as [
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  const valid = family === 'TCP4' ? isIPv4 : family === 'TCP6' ? isIPv6 : undefined;
  const canonical = family === 'TCP4' ? (text: string) => text : canonicalIpv6;
  if (!valid) throw malformed(`v1 protocol must be TCP4, TCP6 or UNKNOWN, got "${family}"`);
  // A zone index (`%eth0`) names an interface of the balancer's host, not a client.
  if (!valid(source) || !valid(destination) || line.includes('%')) {
    throw malformed(
      `v1 ${family} line has an address that is not ${family === 'TCP4' ? 'IPv4' : 'IPv6'}`,
    );
  }
  return {
    done: true,
    header: {
      version: 1,
      command: 'proxy',
      source: { address: canonical(source), port: v1Port(sourcePort) },
      destination: { address: canonical(destination), port: v1Port(destinationPort) },
    },
    consumed,
  };
}

function v1Port(text: string): number {
  // Decimal without leading zeros, as the specification writes them.
  if (!/^(0|[1-9][0-9]{0,4})$/.test(text) || Number(text) > 65535) {
    throw malformed(`v1 port "${text}" is not 0..65535`);
  }
  return Number(text);
}

function parseV2(bytes: Uint8Array, maxBytes: number): ProxyParse {
  if (bytes.length < PROXY_V2_FIXED_BYTES) return NEED_MORE;
  const versionCommand = bytes[12] as number;
  const familyProtocol = bytes[13] as number;
  const length = ((bytes[14] as number) << 8) | (bytes[15] as number);
  if (versionCommand >> 4 !== 2)
    throw malformed(`v2 version must be 2, got ${versionCommand >> 4}`);
  const command = versionCommand & 0x0f;
  if (command > 1) throw malformed(`v2 command must be LOCAL (0) or PROXY (1), got ${command}`);
  const total = PROXY_V2_FIXED_BYTES + length;
  // Checked before waiting for the rest, so a peer cannot make us hold more than the bound.
  if (total > maxBytes) {
    throw new ProxyProtocolError(
      'ERR_PROXY_HEADER_TOO_LONG',
      `PROXY v2 header of ${total} bytes exceeds the limit of ${maxBytes}`,
    );
  }
  if (command === 0) {
    // LOCAL: the balancer's own connection (a health check). Its address block, if any,
    // is to be ignored, but still skipped whole.
    if (bytes.length < total) return NEED_MORE;
    return { done: true, header: { version: 2, command: 'local' }, consumed: total };
  }
  const family = familyProtocol >> 4;
  const protocol = familyProtocol & 0x0f;
  if (family > 3) throw malformed(`v2 address family ${family} is not defined`);
  if (protocol > 2) throw malformed(`v2 transport protocol ${protocol} is not defined`);
  if (protocol === 2) throw malformed('v2 header relays a datagram (DGRAM) connection');
  const needs = [0, 12, 36, 216][family] as number;
  if (length < needs)
    throw malformed(`v2 address block of ${length} bytes is shorter than ${needs}`);
  if (family !== 0 && protocol === 0) throw malformed('v2 header names a family but no protocol');
  if (bytes.length < total) return NEED_MORE;
  if (family === 1 || family === 2) {
    const size = family === 1 ? 4 : 16;
    const at = PROXY_V2_FIXED_BYTES;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return {
      done: true,
      header: {
        version: 2,
        command: 'proxy',
        source: {
          address: formatAddress(bytes.subarray(at, at + size)),
          port: view.getUint16(at + 2 * size),
        },
        destination: {
          address: formatAddress(bytes.subarray(at + size, at + 2 * size)),
          port: view.getUint16(at + 2 * size + 2),
        },
      },
      consumed: total,
    };
  }
  // UNSPEC or UNIX: no IP address to report; TLVs and paths are skipped.
  return { done: true, header: { version: 2, command: 'proxy' }, consumed: total };
}

/** Prints 4 or 16 address bytes the way Node prints a socket's address. */
function formatAddress(bytes: Uint8Array): string {
  if (bytes.length === 4) return bytes.join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) {
    groups.push((((bytes[i] as number) << 8) | (bytes[i + 1] as number)).toString(16));
  }
  return canonicalIpv6(groups.join(':'));
}

/** An IPv6 address in the one spelling Node gives a socket's (inet_ntop's). */
function canonicalIpv6(text: string): string {
  return new SocketAddress({ address: text, family: 'ipv6' }).address;
}
