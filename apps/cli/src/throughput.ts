/**
 * Bulk throughput of keyway's encrypted channel beside node:tls (TLS 1.3) and plain TCP
 * on loopback, measured the same way for all three and the way the repository's channel
 * benchmark measures it: the receiving end runs in a worker thread (each end has a core),
 * the sender keeps at most 128 KiB queued ahead of the kernel and sends full 65,518-byte
 * frames for the time budget, then ends; the rate is the bytes the receiver counted over
 * the time it took. Used by `keyway bench` and `keyway demo`.
 */
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import { Worker } from 'node:worker_threads';
import { nodeCryptoProvider, performHandshake, type SecureChannel } from 'keyway-rpc';
import { BENCH_PROLOGUE, type BenchTransport, type BenchWorkerInput } from './bench-worker.js';

/** One full channel frame of payload per message (65,535 bytes less the 16-byte tag and 1). */
export const CHUNK_BYTES = 65535 - 17;
/** Bytes a sender keeps queued ahead of the kernel, at most. */
export const AHEAD_BYTES = 128 * 1024;

const WORKER = new URL('./bench-worker.js', import.meta.url);

/** One measured transport. */
export interface ThroughputResult {
  readonly name: string;
  /** Megabytes (10^6 bytes) per second of payload, as the receiver counted it. */
  readonly mbPerSecond: number;
  readonly bytes: number;
}

/** A worker running `input`, and the messages it posts, in order. */
export function startWorker(input: BenchWorkerInput): {
  worker: Worker;
  next: <T>() => Promise<T>;
} {
  const worker = new Worker(WORKER, { workerData: input });
  const queue: unknown[] = [];
  const waiting: ((value: unknown) => void)[] = [];
  let failure: Error | undefined;
  worker.on('message', (message: unknown) => {
    const wake = waiting.shift();
    if (wake) wake(message);
    else queue.push(message);
  });
  worker.on('error', (error: Error) => {
    failure = error;
  });
  const next = <T>(): Promise<T> => {
    if (failure) return Promise.reject(failure);
    if (queue.length > 0) return Promise.resolve(queue.shift() as T);
    return new Promise<T>((resolve, reject) => {
      waiting.push(resolve as (value: unknown) => void);
      worker.once('error', reject);
    });
  };
  return { worker, next };
}

async function writeFor(socket: tls.TLSSocket | import('node:net').Socket, until: number) {
  const chunk = new Uint8Array(CHUNK_BYTES).fill(7);
  while (performance.now() < until) {
    for (let i = 0; i < 16 && socket.writableLength < AHEAD_BYTES; i++) socket.write(chunk);
    if (socket.writableNeedDrain) await once(socket, 'drain');
  }
}

async function sendFor(channel: SecureChannel, until: number) {
  const chunk = new Uint8Array(CHUNK_BYTES).fill(7);
  while (performance.now() < until) {
    for (let i = 0; i < 16 && channel.writableLength < AHEAD_BYTES; i++) channel.send(chunk);
    await channel.drained();
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

/**
 * Streams over `transport` for `budgetMs` to a receiver in a worker thread.
 * @param pem the certificate for node:tls (required for `tls`)
 */
export async function measureThroughput(
  transport: BenchTransport,
  budgetMs: number,
  pem?: { key: string; cert: string },
): Promise<ThroughputResult> {
  const serverKey = transport === 'keyway' ? nodeCryptoProvider.generateKeyPair() : undefined;
  const { worker, next } = startWorker({ role: 'receive', transport, pem, serverKey });
  try {
    const { port } = await next<{ port: number }>();
    let name: string;
    let started: number;
    if (transport === 'keyway') {
      const socket = tcpConnect({ host: '127.0.0.1', port, noDelay: true });
      await once(socket, 'connect');
      const { channel } = await performHandshake(socket, {
        role: 'initiator',
        staticKeyPair: nodeCryptoProvider.generateKeyPair(),
        prologue: BENCH_PROLOGUE,
        verifyRemote: () => {},
        provider: nodeCryptoProvider,
      });
      channel.setLimits({ maxFrameBytes: 65535 });
      channel.start({ onMessage: () => {}, onClose: () => {} });
      name = 'keyway channel';
      started = performance.now();
      await sendFor(channel, started + budgetMs);
      channel.close();
    } else {
      const plain = transport === 'tcp';
      const socket = plain
        ? tcpConnect({ host: '127.0.0.1', port, noDelay: true })
        : tls.connect({ host: '127.0.0.1', port, ca: pem!.cert, servername: 'localhost' });
      socket.on('error', () => {});
      await once(socket, plain ? 'connect' : 'secureConnect');
      name = plain ? 'plain TCP' : `node:tls (${(socket as tls.TLSSocket).getCipher().name})`;
      started = performance.now();
      await writeFor(socket, started + budgetMs);
      socket.end();
    }
    const { bytes } = await next<{ bytes: number }>();
    const seconds = (performance.now() - started) / 1000;
    return { name, bytes, mbPerSecond: bytes / seconds / 1e6 };
  } finally {
    await worker.terminate();
  }
}

/** Plain TCP on loopback, receiver in a worker thread. */
export function measureTcp(budgetMs: number): Promise<ThroughputResult> {
  return measureThroughput('tcp', budgetMs);
}

/** node:tls, TLS 1.3; undefined when `openssl` is not there to make a certificate. */
export async function measureTls(budgetMs: number): Promise<ThroughputResult | undefined> {
  const pem = selfSigned();
  return pem === undefined ? undefined : measureThroughput('tls', budgetMs, pem);
}

/** keyway's secure channel (Noise XX, ChaCha20-Poly1305, node:crypto) on loopback. */
export function measureKeyway(budgetMs: number): Promise<ThroughputResult> {
  return measureThroughput('keyway', budgetMs);
}
