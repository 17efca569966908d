/**
 * Byte streams against the channel in short paired bursts, for a machine shared with other
 * jobs: `stream-throughput.ts` runs each side for seconds, and a change of load between a
 * channel run and a stream run moves their ratio more than most changes to keyway do.
 * Here both stay connected, and each round sends one burst through the channel's bulk
 * transfer (keyway-node, receiver in a worker thread, as `channel-throughput.ts`) and one
 * through a byte stream from a ThreadedServer in its own process (`stream-server.ts`),
 * in alternating order; the ratio of each round is taken, and the median of those is
 * printed beside both medians.
 *
 * Run: `pnpm --filter @keyway/benchmarks build && pnpm --filter @keyway/benchmarks bench:stream-pairs`
 * Environment: BENCH_ROUNDS (default 15), BENCH_BURST bytes per burst (default 64 MiB).
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { createServer, connect as netConnect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import type { Remote } from '@keyway/core';
import {
  KnownHosts,
  keywayPrologue,
  nodeCryptoProvider,
  performHandshake,
  type X25519KeyPair,
} from '@keyway/secure';
import { connect } from '@keyway/server';
import { makeBenchKeys } from './server-keys.js';
import type { StreamService } from './stream-server.js';

const MIB = 1024 * 1024;
const PROLOGUE = keywayPrologue('bench');
const FRAME_LIMITS = { maxFrameBytes: 65535 };
const CHUNK = 65535 - 17; // one full channel frame per message

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/** The channel's receiving end: counts bytes, reports each burst once it has all of it. */
async function receiver(key: X25519KeyPair): Promise<void> {
  let bytes = 0;
  let want = Number.POSITIVE_INFINITY;
  const check = (): void => {
    if (bytes < want) return;
    want = Number.POSITIVE_INFINITY;
    parentPort!.postMessage('done');
  };
  const server = createServer((socket) => {
    void performHandshake(socket, {
      role: 'responder',
      staticKeyPair: key,
      prologue: PROLOGUE,
      verifyRemote: () => {},
    }).then(({ channel }) => {
      channel.setLimits(FRAME_LIMITS);
      channel.start({
        onMessage: (data) => {
          bytes += data.length;
          check();
        },
        onClose: () => {},
      });
    });
  });
  // The sender's running total: bytes of a burst may arrive before its message does.
  parentPort!.on('message', (total: number) => {
    want = total;
    check();
  });
  server.listen(0, '127.0.0.1', () =>
    parentPort!.postMessage((server.address() as { port: number }).port),
  );
}

/** The channel's sending end, connected to a receiver in a worker thread. */
async function channelSender(): Promise<{ burst(bytes: number): Promise<void>; stop(): void }> {
  const key = nodeCryptoProvider.generateKeyPair();
  const worker = new Worker(fileURLToPath(import.meta.url), { workerData: { key } });
  const [port] = (await once(worker, 'message')) as [number];
  const socket = netConnect(port, '127.0.0.1');
  await once(socket, 'connect');
  const { channel } = await performHandshake(socket, {
    role: 'initiator',
    staticKeyPair: nodeCryptoProvider.generateKeyPair(),
    prologue: PROLOGUE,
    verifyRemote: () => {},
  });
  channel.setLimits(FRAME_LIMITS);
  channel.start({ onMessage: () => {}, onClose: () => {} });
  const chunk = new Uint8Array(CHUNK);
  let total = 0;
  return {
    async burst(bytes) {
      const received = once(worker, 'message');
      let sent = 0;
      while (sent < bytes) sent += CHUNK;
      total += sent;
      worker.postMessage(total);
      sent = 0;
      // As channel-throughput.ts: up to 128 KiB queued ahead of the kernel.
      while (sent < bytes) {
        for (let i = 0; i < 16 && channel.writableLength < 128 * 1024 && sent < bytes; i++) {
          channel.send(chunk);
          sent += chunk.length;
        }
        await channel.drained();
      }
      await received;
    },
    stop() {
      channel.close();
      void worker.terminate();
    },
  };
}

/** A byte stream's reader, connected to the stream server in a process of its own. */
async function streamReader(): Promise<{ burst(bytes: number): Promise<void>; stop(): void }> {
  const keys = makeBenchKeys();
  const server = fileURLToPath(new URL('./stream-server.js', import.meta.url));
  const child = fork(server, [keys.hostKeyPath, keys.authorizedKeysPath], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const [{ port }] = (await once(child, 'message')) as [{ port: number }];
  const conn = await connect('127.0.0.1', port, {
    identity: keys.client,
    knownHosts: await KnownHosts.load(await keys.knownHostsFor(port)),
  });
  const api = conn.root as Remote<StreamService>;
  return {
    async burst(bytes) {
      let got = 0;
      for await (const chunk of await api.download(bytes)) got += chunk.byteLength;
      if (got !== bytes) throw new Error(`read ${got} bytes of ${bytes}`);
    },
    stop() {
      conn.close();
      child.disconnect();
      keys.cleanup();
    },
  };
}

async function main(): Promise<void> {
  const rounds = Number(process.env.BENCH_ROUNDS ?? 15);
  const burst = Number(process.env.BENCH_BURST ?? 64 * MIB);
  console.log(
    `byte streams against the channel in paired bursts — Node ${process.version}, ` +
      `${burst / MIB} MiB per burst, ${rounds} rounds`,
  );
  const ends = { channel: await channelSender(), stream: await streamReader() };
  for (const end of Object.values(ends)) await end.burst(16 * MIB); // warm-up
  const rates = { channel: [] as number[], stream: [] as number[] };
  for (let round = 0; round < rounds; round++) {
    const order =
      round % 2 === 0 ? (['channel', 'stream'] as const) : (['stream', 'channel'] as const);
    for (const name of order) {
      const started = performance.now();
      await ends[name].burst(burst);
      rates[name].push(burst / MIB / ((performance.now() - started) / 1000));
    }
  }
  for (const end of Object.values(ends)) end.stop();
  const ratios = rates.stream.map((rate, i) => rate / rates.channel[i]!);
  const list = (values: number[]) => values.map((v) => v.toFixed(0)).join(' ');
  console.log(`  channel bulk, MiB/s: ${list(rates.channel)}`);
  console.log(`  byte stream, MiB/s:  ${list(rates.stream)}`);
  console.log(
    `\nmedian: channel bulk ${median(rates.channel).toFixed(0)} MiB/s, byte stream ` +
      `${median(rates.stream).toFixed(0)} MiB/s; median of the rounds' ratios ` +
      `${median(ratios).toFixed(2)}x (target >= 0.8x: ${median(ratios) >= 0.8 ? 'met' : 'NOT met'})`,
  );
}

if (isMainThread) await main();
else await receiver((workerData as { key: X25519KeyPair }).key);
