/**
 * PROXY protocol headers built byte by byte from the specification, and a small TCP relay
 * that writes one before the client's bytes: a load balancer for tests.
 */
import { createServer, isIPv4, connect as netConnect, type Server, type Socket } from 'node:net';

/** A client address for a header. */
export interface Endpoint {
  address: string;
  port: number;
}

/** A version 1 line: `PROXY TCP4|TCP6 src dst sport dport\r\n`. */
export function proxyV1(source: Endpoint, destination: Endpoint): Uint8Array {
  const family = isIPv4(source.address) ? 'TCP4' : 'TCP6';
  return Buffer.from(
    `PROXY ${family} ${source.address} ${destination.address} ${source.port} ${destination.port}\r\n`,
  );
}

const V2_SIGNATURE = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];

/** The 16 bytes of an IPv6 address (`::` shorthand and a dotted IPv4 tail allowed). */
export function ipv6Bytes(text: string): number[] {
  let tail: number[] = [];
  let body = text;
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    tail = dotted[1]!.split('.').map(Number);
    body = `${text.slice(0, -dotted[1]!.length)}0:0`;
  }
  const [head = '', rest] = body.split('::');
  const groups = (part: string) =>
    part === '' ? [] : part.split(':').map((g) => Number.parseInt(g, 16));
  const left = groups(head);
  const right = rest === undefined ? [] : groups(rest);
  const all = [...left, ...new Array(8 - left.length - right.length).fill(0), ...right];
  const bytes = all.flatMap((g) => [g >> 8, g & 0xff]);
  if (tail.length === 4) bytes.splice(12, 4, ...tail);
  return bytes;
}

/** A version 2 header; `tlvs` are appended raw after the address block. */
export function proxyV2(options: {
  command?: 'local' | 'proxy';
  source?: Endpoint;
  destination?: Endpoint;
  tlvs?: Uint8Array;
}): Uint8Array {
  const { source, destination } = options;
  let family = 0x00;
  let block: number[] = [];
  if (source && destination) {
    const v4 = isIPv4(source.address);
    family = v4 ? 0x11 : 0x21;
    const addr = (a: string) => (v4 ? a.split('.').map(Number) : ipv6Bytes(a));
    block = [
      ...addr(source.address),
      ...addr(destination.address),
      source.port >> 8,
      source.port & 0xff,
      destination.port >> 8,
      destination.port & 0xff,
    ];
  }
  const tlvs = [...(options.tlvs ?? [])];
  const length = block.length + tlvs.length;
  return Uint8Array.from([
    ...V2_SIGNATURE,
    options.command === 'local' ? 0x20 : 0x21,
    family,
    length >> 8,
    length & 0xff,
    ...block,
    ...tlvs,
  ]);
}

/** A relay that writes `header(client)` to the server, then pipes both ways. */
export interface Relay {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Starts a relay on 127.0.0.1 port 0 in front of a server.
 * @param target the server: TCP port on 127.0.0.1, or a Unix socket path
 * @param header the bytes to send first, given the client's socket (undefined: none)
 */
export async function startRelay(
  target: number | string,
  header: (client: Socket) => Uint8Array | undefined,
): Promise<Relay> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream =
      typeof target === 'number'
        ? netConnect({ host: '127.0.0.1', port: target })
        : netConnect({ path: target });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    const first = header(client);
    if (first !== undefined) upstream.write(first);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('relay has no port');
  return {
    port: address.port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
