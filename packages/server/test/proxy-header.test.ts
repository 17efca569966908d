/** The PROXY protocol header parser, case by case against the specification's rules. */
import { describe, expect, it } from 'vitest';
import { ProxyProtocolError } from '../src/errors.js';
import {
  DEFAULT_PROXY_HEADER_MAX_BYTES,
  PROXY_V1_MAX_BYTES,
  parseProxyHeader,
  proxySignature,
} from '../src/proxy-header.js';
import { proxyV1, proxyV2 } from './proxy-relay.js';

const client = { address: '192.0.2.7', port: 51234 };
const server = { address: '10.0.0.1', port: 18861 };
const ascii = (text: string) => Buffer.from(text, 'latin1');

function codeOf(bytes: Uint8Array, maxBytes?: number): string {
  try {
    parseProxyHeader(bytes, maxBytes);
  } catch (error) {
    expect(error).toBeInstanceOf(ProxyProtocolError);
    return (error as ProxyProtocolError).code;
  }
  return 'no error';
}

describe('PROXY protocol v1', () => {
  it('parses TCP4 and reports how many bytes the line took', () => {
    const line = proxyV1(client, server);
    const parse = parseProxyHeader(Buffer.concat([line, ascii('rest')]));
    expect(parse).toEqual({
      done: true,
      header: { version: 1, command: 'proxy', source: client, destination: server },
      consumed: line.length,
    });
  });

  it('parses TCP6', () => {
    const parse = parseProxyHeader(ascii('PROXY TCP6 2001:db8::7 2001:db8::1 1 2\r\n'));
    expect(parse.done && parse.header.source).toEqual({ address: '2001:db8::7', port: 1 });
  });

  it('UNKNOWN carries no address and the rest of its line is ignored', () => {
    const parse = parseProxyHeader(ascii('PROXY UNKNOWN whatever is here\r\n'));
    expect(parse).toEqual({ done: true, header: { version: 1, command: 'proxy' }, consumed: 32 });
  });

  it('asks for more bytes until the CRLF arrives', () => {
    const line = proxyV1(client, server);
    for (let n = 1; n < line.length; n++)
      expect(parseProxyHeader(line.subarray(0, n)).done).toBe(false);
  });

  it('refuses a line longer than 107 bytes, without waiting for its end', () => {
    const long = ascii(`PROXY UNKNOWN ${'x'.repeat(200)}`);
    expect(codeOf(long.subarray(0, PROXY_V1_MAX_BYTES))).toBe('ERR_PROXY_HEADER_TOO_LONG');
    // 105 characters and CRLF is 107 bytes: the longest allowed.
    const longest = ascii(`PROXY UNKNOWN ${'x'.repeat(91)}\r\n`);
    expect(longest.length).toBe(107);
    expect(parseProxyHeader(longest).done).toBe(true);
    expect(codeOf(ascii(`PROXY UNKNOWN ${'x'.repeat(92)}\r\n`))).toBe('ERR_PROXY_HEADER_TOO_LONG');
  });

  it.each([
    ['an unknown protocol', 'PROXY UDP4 1.2.3.4 1.2.3.4 1 2\r\n'],
    ['an IPv6 address in TCP4', 'PROXY TCP4 ::1 1.2.3.4 1 2\r\n'],
    ['an IPv4 address in TCP6', 'PROXY TCP6 1.2.3.4 ::1 1 2\r\n'],
    ['a port above 65535', 'PROXY TCP4 1.2.3.4 1.2.3.4 65536 2\r\n'],
    ['a port with a leading zero', 'PROXY TCP4 1.2.3.4 1.2.3.4 01 2\r\n'],
    ['an octet above 255', 'PROXY TCP4 1.2.3.256 1.2.3.4 1 2\r\n'],
    ['two spaces', 'PROXY TCP4  1.2.3.4 1.2.3.4 1 2\r\n'],
    ['a missing field', 'PROXY TCP4 1.2.3.4 1.2.3.4 1\r\n'],
    ['a bare CR', 'PROXY TCP4 1.2.3.4 1.2.3.4 1 2\rX'],
    ['a zone index', 'PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n'],
    ['a NUL byte', 'PROXY TCP4 1.2.3.4\u0000 1.2.3.4 1 2\r\n'],
  ])('refuses %s', (_, text) => {
    expect(codeOf(ascii(text))).toBe('ERR_PROXY_HEADER_MALFORMED');
  });
});

describe('PROXY protocol v2', () => {
  it('parses PROXY over IPv4 and skips TLVs', () => {
    const tlvs = Uint8Array.of(0x01, 0x00, 0x02, 0x68, 0x32, 0x04, 0x00, 0x00);
    const header = proxyV2({ source: client, destination: server, tlvs });
    const parse = parseProxyHeader(Buffer.concat([header, ascii('after')]));
    expect(parse).toEqual({
      done: true,
      header: { version: 2, command: 'proxy', source: client, destination: server },
      consumed: 16 + 12 + tlvs.length,
    });
  });

  it('parses PROXY over IPv6, printing addresses as Node does', () => {
    const header = proxyV2({
      source: { address: '2001:db8:0:0:1:0:0:7', port: 1 },
      destination: { address: '::ffff:10.1.2.3', port: 2 },
    });
    const parse = parseProxyHeader(header);
    expect(parse.done && parse.header.source?.address).toBe('2001:db8::1:0:0:7');
    expect(parse.done && parse.header.destination?.address).toBe('::ffff:10.1.2.3');
  });

  it('LOCAL (a health check) carries no address, and its block is skipped', () => {
    const header = proxyV2({ command: 'local', source: client, destination: server });
    expect(parseProxyHeader(header)).toEqual({
      done: true,
      header: { version: 2, command: 'local' },
      consumed: header.length,
    });
  });

  it('UNSPEC and UNIX families carry no IP address', () => {
    const unspec = proxyV2({});
    expect(parseProxyHeader(unspec)).toEqual({
      done: true,
      header: { version: 2, command: 'proxy' },
      consumed: 16,
    });
    const unix = Uint8Array.from([
      ...unspec.subarray(0, 13),
      0x31,
      0,
      216,
      ...new Array(216).fill(0x61),
    ]);
    expect(parseProxyHeader(unix)).toMatchObject({ done: true, consumed: 232 });
  });

  it('asks for more bytes until the announced length is there', () => {
    const header = proxyV2({ source: client, destination: server });
    for (let n = 1; n < header.length; n++) {
      expect(parseProxyHeader(header.subarray(0, n)).done).toBe(false);
    }
  });

  it('refuses an announced length over the bound as soon as it is read', () => {
    const header = proxyV2({ source: client, destination: server, tlvs: new Uint8Array(2000) });
    expect(codeOf(header.subarray(0, 16))).toBe('ERR_PROXY_HEADER_TOO_LONG');
    expect(parseProxyHeader(header, 4096).done).toBe(true);
    expect(DEFAULT_PROXY_HEADER_MAX_BYTES).toBe(1024);
  });

  it.each([
    ['version 1 in the version nibble', (h: Uint8Array) => (h[12] = 0x11)],
    ['an undefined command', (h: Uint8Array) => (h[12] = 0x22)],
    ['an undefined family', (h: Uint8Array) => (h[13] = 0x41)],
    ['a datagram connection', (h: Uint8Array) => (h[13] = 0x12)],
    ['a family without a protocol', (h: Uint8Array) => (h[13] = 0x10)],
    ['an address block too short for IPv6', (h: Uint8Array) => (h[13] = 0x21)],
  ])('refuses %s', (_, spoil) => {
    const header = proxyV2({ source: client, destination: server });
    spoil(header);
    expect(codeOf(header)).toBe('ERR_PROXY_HEADER_MALFORMED');
  });
});

describe('no header', () => {
  it('bytes that cannot start a signature are ERR_PROXY_HEADER_MISSING', () => {
    expect(codeOf(Uint8Array.of(0x00, 0x20))).toBe('ERR_PROXY_HEADER_MISSING');
    expect(codeOf(ascii('PROXZ'))).toBe('ERR_PROXY_HEADER_MISSING');
    expect(codeOf(ascii('\r\n\r\n\0\r\nQUIX'))).toBe('ERR_PROXY_HEADER_MISSING');
  });

  it('proxySignature tells yes, no and maybe', () => {
    expect(proxySignature(ascii('PROX'))).toBe('maybe');
    expect(proxySignature(ascii('PROXY '))).toBe('yes');
    expect(proxySignature(Uint8Array.of(0x0d, 0x0a))).toBe('maybe');
    expect(proxySignature(proxyV2({}).subarray(0, 12))).toBe('yes');
    expect(proxySignature(Uint8Array.of(0x00))).toBe('no');
    expect(proxySignature(new Uint8Array(0))).toBe('maybe');
  });
});
