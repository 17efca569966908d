/**
 * Channel benchmark (docs/design.md §6): bulk throughput on loopback TCP of keyway's secure
 * channel with the node:crypto and @noble providers, beside plain TCP and node:tls
 * (TLS 1.3) measured in the same run; then handshakes per second with mutual key
 * authentication against node:tls mutual-TLS handshakes.
 *
 * The receiving end of every throughput run lives in a worker thread, so sender and
 * receiver each have a core, as two processes on one machine would.
 *
 * Run: `pnpm --filter @keyway/benchmarks build && pnpm --filter @keyway/benchmarks bench:channel`
 * Environment: BENCH_SECONDS (default 3) per throughput run.
 */
import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { type EventLoopUtilization, performance } from 'node:perf_hooks';
import { createServer as createTlsServer, type TLSSocket, connect as tlsConnect } from 'node:tls';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import {
  type CryptoProvider,
  keywayPrologue,
  nobleCryptoProvider,
  nodeCryptoProvider,
  performHandshake,
  type SecureChannel,
  type X25519KeyPair,
} from '@keyway/secure';
import { FloorSender, floorReceive } from './aead-floor.js';
import { type Pem, selfSigned } from './channel-certs.js';
import { BenchReport } from './report.js';

type Variant = 'tcp' | 'tls-aes' | 'tls-chacha' | 'node-aead' | 'keyway-node' | 'keyway-noble';

interface WorkerInput {
  variant: Variant;
  server: Pem;
  serverKey: X25519KeyPair;
}

const PROLOGUE = keywayPrologue('bench');
const CHUNK = 65535 - 17; // one full channel frame per message
// Every sender (TCP, TLS, keyway) keeps up to this many bytes queued ahead of the kernel.
const AHEAD = Number(process.env.BENCH_AHEAD ?? 128 * 1024);
// Rounds per variant, interleaved; the median is reported (the machine may be shared).
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
// Channel frame size after authentication (BENCH_FRAME to compare; 65535 is the maximum).
const FRAME_LIMITS = { maxFrameBytes: Number(process.env.BENCH_FRAME ?? 65535) };
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);

function providerOf(variant: Variant): CryptoProvider {
  return variant === 'keyway-noble' ? nobleCryptoProvider : nodeCryptoProvider;
}

/* ---------------------------------------------------------------- receiver (worker) */

async function runReceiver(input: WorkerInput): Promise<void> {
  const { variant } = input;
  let bytes = 0;
  // Event-loop utilisation from the first byte received: how busy the receiving thread was.
  let elu: EventLoopUtilization | undefined;
  const done = (): void =>
    parentPort!.postMessage({
      bytes,
      busy: elu === undefined ? 0 : performance.eventLoopUtilization(elu).utilization,
    });
  const onSocket = async (socket: Socket | TLSSocket): Promise<void> => {
    if (variant === 'keyway-node' || variant === 'keyway-noble') {
      const { channel } = await performHandshake(socket, {
        role: 'responder',
        staticKeyPair: input.serverKey,
        prologue: PROLOGUE,
        verifyRemote: () => {},
        provider: providerOf(variant),
      });
      channel.setLimits(FRAME_LIMITS);
      channel.start({
        onMessage: (data) => {
          elu ??= performance.eventLoopUtilization();
          bytes += data.length;
        },
        onClose: done,
      });
    } else {
      if (variant === 'node-aead') {
        floorReceive(socket, (n) => {
          elu ??= performance.eventLoopUtilization();
          bytes += n;
        });
      } else {
        socket.on('data', (chunk: Buffer) => {
          elu ??= performance.eventLoopUtilization();
          bytes += chunk.length;
        });
      }
      socket.on('end', () => {
        done();
        socket.end();
      });
    }
  };
  const server =
    variant === 'tls-aes' || variant === 'tls-chacha'
      ? createTlsServer(
          {
            ...input.server,
            minVersion: 'TLSv1.3',
            ...(variant === 'tls-chacha' ? { ciphers: 'TLS_CHACHA20_POLY1305_SHA256' } : {}),
          },
          (s) => void onSocket(s),
        )
      : createServer((s) => void onSocket(s));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  parentPort!.postMessage({ port: (server.address() as { port: number }).port });
}

/* ---------------------------------------------------------------- sender (main) */

async function drainWrite(socket: Socket, chunk: Uint8Array, until: number): Promise<number> {
  let sent = 0;
  while (performance.now() < until) {
    for (let i = 0; i < 16 && socket.writableLength < AHEAD; i++) {
      socket.write(chunk);
      sent += chunk.length;
    }
    if (socket.writableNeedDrain) await once(socket, 'drain');
  }
  return sent;
}

async function drainFloor(socket: Socket, chunk: Uint8Array, until: number): Promise<number> {
  const sender = new FloorSender(socket);
  let sent = 0;
  while (performance.now() < until) {
    for (let i = 0; i < 16 && socket.writableLength < AHEAD; i++) {
      sender.send(chunk);
      sent += chunk.length;
    }
    if (socket.writableNeedDrain) await once(socket, 'drain');
  }
  return sent;
}

async function drainSend(
  channel: SecureChannel,
  chunk: Uint8Array,
  until: number,
): Promise<number> {
  let sent = 0;
  while (performance.now() < until) {
    for (let i = 0; i < 16 && channel.writableLength < AHEAD; i++) {
      channel.send(chunk);
      sent += chunk.length;
    }
    await channel.drained();
  }
  return sent;
}

const ciphers = new Map<Variant, string>();

/** One throughput run: wall-clock rate and CPU spent per 100 MB delivered. */
interface Run {
  mbps: number;
  cpuMsPer100MB: number;
  /** Event-loop utilisation of the sending and the receiving thread (0..1). */
  senderBusy: number;
  receiverBusy: number;
}

async function throughput(variant: Variant, server: Pem, serverKey: X25519KeyPair): Promise<Run> {
  const worker = new Worker(new URL(import.meta.url), {
    workerData: { variant, server, serverKey },
  });
  type Report = { port?: number; bytes?: number; busy?: number };
  const messages: Report[] = [];
  const next = (): Promise<Report> =>
    messages.length > 0
      ? Promise.resolve(messages.shift()!)
      : new Promise((resolve) => worker.once('message', resolve));
  const { port } = await next();
  const chunk = new Uint8Array(CHUNK).fill(7);
  let start: number;
  let cpu: NodeJS.CpuUsage;
  let received: Promise<Report>;
  let elu: EventLoopUtilization;
  if (variant !== 'keyway-node' && variant !== 'keyway-noble') {
    const plain = variant === 'tcp' || variant === 'node-aead';
    const socket = plain
      ? connect(port!, '127.0.0.1')
      : tlsConnect({
          port: port!,
          host: '127.0.0.1',
          ca: server.cert,
          servername: 'localhost',
          minVersion: 'TLSv1.3',
        });
    await once(socket, plain ? 'connect' : 'secureConnect');
    if (!plain) ciphers.set(variant, (socket as TLSSocket).getCipher().name);
    received = next();
    start = performance.now();
    cpu = process.cpuUsage();
    elu = performance.eventLoopUtilization();
    if (variant === 'node-aead') await drainFloor(socket, chunk, start + SECONDS * 1000);
    else await drainWrite(socket, chunk, start + SECONDS * 1000);
    socket.end();
  } else {
    const socket = connect(port!, '127.0.0.1');
    await once(socket, 'connect');
    const { channel } = await performHandshake(socket, {
      role: 'initiator',
      staticKeyPair: providerOf(variant).generateKeyPair(),
      prologue: PROLOGUE,
      verifyRemote: () => {},
      provider: providerOf(variant),
    });
    channel.setLimits(FRAME_LIMITS);
    channel.start({ onMessage: () => {}, onClose: () => {} });
    received = next();
    start = performance.now();
    cpu = process.cpuUsage();
    elu = performance.eventLoopUtilization();
    await drainSend(channel, chunk, start + SECONDS * 1000);
    channel.close();
  }
  const senderBusy = performance.eventLoopUtilization(elu!).utilization;
  const { bytes, busy } = await received;
  const seconds = (performance.now() - start) / 1000;
  const used = process.cpuUsage(cpu);
  await worker.terminate();
  // CPU of both threads (sender and receiver) and the kernel work done on their behalf:
  // steadier than wall-clock throughput on a shared machine.
  return {
    mbps: bytes! / 1e6 / seconds,
    cpuMsPer100MB: (used.user + used.system) / 1000 / (bytes! / 1e8),
    senderBusy,
    receiverBusy: busy ?? 0,
  };
}

/* ---------------------------------------------------------------- handshakes/s */

const HANDSHAKE_SECONDS = Math.max(1, SECONDS - 1);
const CONCURRENCY = 4;

async function keywayHandshakes(provider: CryptoProvider): Promise<number> {
  const serverKey = provider.generateKeyPair();
  const clientKey = provider.generateKeyPair();
  // Mutual authentication: each side accepts exactly the other's static key.
  const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(b);
  const expect = (key: Uint8Array) => (remote: Uint8Array) => {
    if (!same(remote, key)) throw new Error('unexpected key');
  };
  const server = createServer((socket) => {
    performHandshake(socket, {
      role: 'responder',
      staticKeyPair: serverKey,
      prologue: PROLOGUE,
      verifyRemote: expect(clientKey.publicKey),
      provider,
    }).then(
      ({ channel }) => channel.start({ onMessage: () => {}, onClose: () => {} }),
      () => {},
    );
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  const one = async (): Promise<void> => {
    const socket = connect(port, '127.0.0.1');
    await once(socket, 'connect');
    const { channel } = await performHandshake(socket, {
      role: 'initiator',
      staticKeyPair: clientKey,
      prologue: PROLOGUE,
      verifyRemote: expect(serverKey.publicKey),
      provider,
    });
    channel.start({ onMessage: () => {}, onClose: () => {} });
    channel.close();
  };
  const rate = await loop(one);
  server.close();
  return rate;
}

async function tlsHandshakes(serverPem: Pem, clientPem: Pem): Promise<number> {
  const server = createTlsServer({
    ...serverPem,
    minVersion: 'TLSv1.3',
    requestCert: true,
    rejectUnauthorized: true,
    ca: clientPem.cert,
  });
  // Nagle off on both sides, as keyway's driver does, so that neither side waits on it.
  server.on('secureConnection', (s) => {
    s.setNoDelay(true);
    s.end();
  });
  server.on('tlsClientError', () => {});
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  const one = async (): Promise<void> => {
    const socket = tlsConnect({
      port,
      host: '127.0.0.1',
      servername: 'localhost',
      ca: serverPem.cert,
      ...clientPem,
      minVersion: 'TLSv1.3',
    });
    socket.setNoDelay(true);
    await once(socket, 'secureConnect');
    // TLS 1.3 finishes client auth after the client's Finished: wait for the server's answer.
    await once(socket, 'end');
    socket.end();
  };
  const rate = await loop(one);
  server.close();
  return rate;
}

async function loop(one: () => Promise<void>): Promise<number> {
  for (let i = 0; i < 20; i++) await one(); // warm up
  let count = 0;
  const start = performance.now();
  const until = start + HANDSHAKE_SECONDS * 1000;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < until) {
        await one();
        count++;
      }
    }),
  );
  return count / ((performance.now() - start) / 1000);
}

/* ---------------------------------------------------------------- main */

async function main(): Promise<void> {
  console.log(`channel benchmark — Node ${process.version}, ${SECONDS} s per throughput run\n`);
  const server = selfSigned('localhost');
  const client = selfSigned('client');
  const serverKey = nodeCryptoProvider.generateKeyPair();
  const results = new Map<Variant, number>();
  const cpuCosts = new Map<Variant, number>();
  const all: Variant[] = [
    'tcp',
    'tls-aes',
    'tls-chacha',
    'node-aead',
    'keyway-node',
    'keyway-noble',
  ];
  // BENCH_ONLY=keyway-node,tcp runs a subset (for profiling); ratios need tcp and tls-*.
  const only = process.env.BENCH_ONLY?.split(',');
  const variants = only ? all.filter((v) => only.includes(v)) : all;
  console.log(
    `bulk throughput, loopback TCP, 65518-byte writes, median of ${ROUNDS} interleaved rounds:`,
  );
  const handshakeSteps = process.env.BENCH_SKIP_HANDSHAKES ? 0 : 3;
  const report = new BenchReport('channel-throughput', ROUNDS * variants.length + handshakeSteps);
  const runs = new Map<Variant, Run[]>(variants.map((v) => [v, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const v of variants) {
      report.step(`round ${round + 1}: ${v}`);
      runs.get(v)!.push(await throughput(v, server, serverKey));
    }
  }
  report.record('throughput', Object.fromEntries(runs));
  report.record('rounds', ROUNDS);
  report.record('secondsPerRun', SECONDS);
  for (const v of variants) {
    const rates = runs
      .get(v)!
      .map((r) => r.mbps)
      .sort((a, b) => a - b);
    const costs = runs
      .get(v)!
      .map((r) => r.cpuMsPer100MB)
      .sort((a, b) => a - b);
    const median = rates[Math.floor(rates.length / 2)]!;
    const cost = costs[Math.floor(costs.length / 2)]!;
    results.set(v, median);
    cpuCosts.set(v, cost);
    const all = rates.map((x) => x.toFixed(0)).join(' ');
    const middle = (pick: (r: Run) => number): string => {
      const xs = runs
        .get(v)!
        .map(pick)
        .sort((a, b) => a - b);
      return `${(100 * xs[Math.floor(xs.length / 2)]!).toFixed(0).padStart(3)}%`;
    };
    console.log(
      `  ${v.padEnd(14)} ${median.toFixed(0).padStart(7)} MB/s  ${cost.toFixed(0).padStart(6)} ms CPU/100 MB  busy: sender ${middle((r) => r.senderBusy)}, receiver ${middle((r) => r.receiverBusy)}   (runs: ${all} MB/s)`,
    );
  }
  const tcp = results.get('tcp') ?? Number.NaN;
  const tls = results.get('tls-aes') ?? Number.NaN;
  const tlsChacha = results.get('tls-chacha') ?? Number.NaN;
  for (const v of ['node-aead', 'keyway-node', 'keyway-noble'] as const) {
    const r = results.get(v);
    if (r === undefined) continue;
    console.log(
      `  ${v}: ${(r / tls).toFixed(2)}x node:tls (AES-GCM), ${(r / tlsChacha).toFixed(2)}x node:tls (ChaCha20), ${((100 * r) / tcp).toFixed(0)}% of plain TCP`,
    );
    const c = cpuCosts.get(v)!;
    const cTls = cpuCosts.get('tls-aes') ?? Number.NaN;
    const cChacha = cpuCosts.get('tls-chacha') ?? Number.NaN;
    console.log(
      `  ${v}: CPU per byte ${(c / cTls).toFixed(2)}x node:tls (AES-GCM), ${(c / cChacha).toFixed(2)}x node:tls (ChaCha20)`,
    );
  }
  const floor = results.get('node-aead');
  const keyway = results.get('keyway-node');
  if (floor !== undefined && keyway !== undefined) {
    console.log(
      `  keyway-node: ${(keyway / floor).toFixed(2)}x the node:crypto floor (node-aead: the same frames, no channel code)`,
    );
  }
  for (const [v, name] of ciphers) console.log(`  (${v} negotiated ${name})`);
  report.record('medianMBps', Object.fromEntries(results));
  report.record('ciphers', Object.fromEntries(ciphers));
  if (process.env.BENCH_SKIP_HANDSHAKES) {
    report.save();
    return;
  }
  console.log(
    `\nhandshakes/s, mutual authentication, ${CONCURRENCY} in flight, ${HANDSHAKE_SECONDS} s:`,
  );
  report.step('handshakes: node:tls mutual TLS');
  const mtls = await tlsHandshakes(server, client);
  console.log(`  node:tls mutual TLS 1.3 (ECDSA P-256)  ${mtls.toFixed(0).padStart(6)}/s`);
  const handshakes: Record<string, number> = { 'mutual TLS 1.3': mtls };
  for (const provider of [nodeCryptoProvider, nobleCryptoProvider]) {
    report.step(`handshakes: keyway Noise XX (${provider.name})`);
    const rate = await keywayHandshakes(provider);
    handshakes[`keyway Noise XX (${provider.name})`] = rate;
    console.log(
      `  keyway Noise XX (${provider.name.padEnd(5)})          ${rate.toFixed(0).padStart(6)}/s  ${(rate / mtls).toFixed(2)}x mTLS`,
    );
  }
  report.record('handshakesPerSecond', handshakes);
  report.save();
}

if (isMainThread) {
  await main();
} else {
  await runReceiver(workerData as WorkerInput);
}
