/**
 * Bulk throughput of keyway's encrypted channel beside node:tls (TLS 1.3) and plain TCP,
 * measured the same way for all three on loopback, both ends in this process: the sender
 * writes a window of 64 KiB messages, the receiver acknowledges the window once all of it
 * arrived, and this repeats until the time budget is spent. Used by `keyway demo` and
 * `keyway bench`; the fuller benchmarks live in the repository's `benchmarks/` folder.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import {
  acceptConnection,
  anonymousAuth,
  clientHandshake,
  generateIdentity,
  type MessageTransport,
} from 'keyway-rpc';

const CHUNK = 64 * 1024;
const WINDOW_CHUNKS = 256; // 16 MiB in flight per window

/** One measured transport. */
export interface ThroughputResult {
  readonly name: string;
  /** Megabytes (10^6 bytes) per second of payload. */
  readonly mbPerSecond: number;
  readonly bytes: number;
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)),
  );
}

/** Streams windows over a byte stream pair (TCP or TLS) for `budgetMs`. */
async function streamBytes(
  name: string,
  sender: Socket | tls.TLSSocket,
  receiver: Socket | tls.TLSSocket,
  budgetMs: number,
): Promise<ThroughputResult> {
  const chunk = Buffer.alloc(CHUNK, 7);
  const windowBytes = CHUNK * WINDOW_CHUNKS;
  let received = 0;
  let ack: (() => void) | undefined;
  receiver.on('data', (d: Buffer) => {
    received += d.length;
    if (received >= windowBytes) {
      received -= windowBytes;
      receiver.write(Buffer.of(1));
    }
  });
  sender.on('data', () => ack?.());
  const started = performance.now();
  let sent = 0;
  while (performance.now() - started < budgetMs) {
    const acked = new Promise<void>((r) => {
      ack = r;
    });
    for (let i = 0; i < WINDOW_CHUNKS; i++) sender.write(chunk);
    await acked;
    sent += windowBytes;
  }
  const seconds = (performance.now() - started) / 1000;
  return { name, bytes: sent, mbPerSecond: sent / seconds / 1e6 };
}

/** Plain TCP on loopback. */
export async function measureTcp(budgetMs: number): Promise<ThroughputResult> {
  let accepted!: (s: Socket) => void;
  const server = createServer((s) => accepted(s));
  const port = await listen(server);
  const serverSide = new Promise<Socket>((r) => {
    accepted = r;
  });
  const client = tcpConnect({ host: '127.0.0.1', port, noDelay: true });
  const receiver = await serverSide;
  try {
    return await streamBytes('plain TCP', client, receiver, budgetMs);
  } finally {
    client.destroy();
    receiver.destroy();
    server.close();
  }
}

/** A self-signed ECDSA certificate from the `openssl` CLI, or undefined without it. */
export function selfSigned(): { key: string; cert: string } | undefined {
  const dir = mkdtempSync(join(tmpdir(), 'keyway-tls-'));
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
      ],
      { stdio: 'ignore' },
    );
    return {
      key: readFileSync(join(dir, 'key.pem'), 'utf8'),
      cert: readFileSync(join(dir, 'cert.pem'), 'utf8'),
    };
  } catch {
    return undefined;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** node:tls, TLS 1.3, on loopback; undefined when `openssl` is not there to make a cert. */
export async function measureTls(budgetMs: number): Promise<ThroughputResult | undefined> {
  const pem = selfSigned();
  if (!pem) return undefined;
  let accepted!: (s: tls.TLSSocket) => void;
  const server = tls.createServer({ ...pem, minVersion: 'TLSv1.3' }, (s) => accepted(s));
  const port = await listen(server as unknown as Server);
  const serverSide = new Promise<tls.TLSSocket>((r) => {
    accepted = r;
  });
  const client = tls.connect({ host: '127.0.0.1', port, ca: pem.cert, servername: 'localhost' });
  await new Promise<void>((r) => client.once('secureConnect', () => r()));
  const receiver = await serverSide;
  try {
    return await streamBytes(`node:tls (${client.getCipher().name})`, client, receiver, budgetMs);
  } finally {
    client.destroy();
    receiver.destroy();
    server.close();
  }
}

/** keyway's secure channel (Noise XX, ChaCha20-Poly1305, node:crypto) on loopback. */
export async function measureKeyway(budgetMs: number): Promise<ThroughputResult> {
  const host = generateIdentity('throughput-host');
  let accepted!: (t: MessageTransport) => void;
  const server = createServer((socket) => {
    socket.on('error', () => {});
    acceptConnection(socket, anonymousAuth({ identity: host }), {
      remoteAddress: '127.0.0.1',
    }).then(
      (a) => accepted(a.transport),
      () => socket.destroy(),
    );
  });
  const port = await listen(server);
  const serverSide = new Promise<MessageTransport>((r) => {
    accepted = r;
  });
  const socket = tcpConnect({ host: '127.0.0.1', port, noDelay: true });
  await new Promise<void>((r) => socket.once('connect', () => r()));
  const { transport: sender } = await clientHandshake(socket, {
    host: '127.0.0.1',
    port,
    hostKeyPolicy: 'insecure-any',
  });
  const receiver = await serverSide;
  const chunk = new Uint8Array(CHUNK).fill(7);
  let ack: (() => void) | undefined;
  let count = 0;
  receiver.start({
    onMessage: () => {
      if (++count === WINDOW_CHUNKS) {
        count = 0;
        receiver.send(Uint8Array.of(1));
      }
    },
    onClose: () => {},
  });
  sender.start({ onMessage: () => ack?.(), onClose: () => {} });
  try {
    const started = performance.now();
    let sent = 0;
    while (performance.now() - started < budgetMs) {
      const acked = new Promise<void>((r) => {
        ack = r;
      });
      // Sealing writes new buffers and leaves the plaintext as it was, so one chunk serves.
      for (let i = 0; i < WINDOW_CHUNKS; i++) sender.send(chunk);
      await acked;
      sent += CHUNK * WINDOW_CHUNKS;
    }
    const seconds = (performance.now() - started) / 1000;
    return { name: 'keyway channel', bytes: sent, mbPerSecond: sent / seconds / 1e6 };
  } finally {
    sender.close();
    receiver.close();
    server.close();
  }
}
