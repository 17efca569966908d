/**
 * Byte-stream benchmark: 1 GiB through one `ReadableStream<Uint8Array>` over keyway's
 * encrypted channel (ThreadedServer + publicKeyAuth in a process of its own, the reader
 * here), beside the channel's own bulk throughput (`channel-throughput.ts`, keyway-node)
 * measured in the same run, rounds interleaved, medians printed with their ratio. Also
 * prints each side's resident-memory growth during the stream (it should stay flat: the
 * stream moves in constant memory).
 *
 * Run: `pnpm --filter @keyway/benchmarks build && pnpm --filter @keyway/benchmarks bench:stream`
 * Environment: STREAM_BYTES (default 1 GiB), BENCH_ROUNDS (default 3), BENCH_SECONDS for
 * the channel runs (default 3).
 */
import { execFile, fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Remote } from '@keyway/core';
import { KnownHosts } from '@keyway/secure';
import { connect } from '@keyway/server';
import { makeBenchKeys } from './server-keys.js';
import type { StreamService } from './stream-server.js';

const MIB = 1024 * 1024;
const TOTAL = Number(process.env.STREAM_BYTES ?? 1024 * MIB);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SECONDS = process.env.BENCH_SECONDS ?? '3';
const SERVER = fileURLToPath(new URL('./stream-server.js', import.meta.url));
const CHANNEL = fileURLToPath(new URL('./channel-throughput.js', import.meta.url));

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/** The channel's bulk throughput in MiB/s, one run of channel-throughput.js. */
async function channelBulk(): Promise<number> {
  const { stdout } = await promisify(execFile)(process.execPath, [CHANNEL], {
    env: {
      ...process.env,
      BENCH_ONLY: 'keyway-node',
      BENCH_ROUNDS: '1',
      BENCH_SECONDS: SECONDS,
      BENCH_SKIP_HANDSHAKES: '1',
    },
    timeout: 120_000,
  });
  const match = /keyway-node\s+([\d.]+) MB\/s/.exec(stdout);
  if (match === null) throw new Error(`no keyway-node line in:\n${stdout}`);
  // channel-throughput prints MB/s (10^6 bytes).
  return (Number(match[1]) * 1e6) / MIB;
}

interface StreamRun {
  mibPerSecond: number;
  clientGrowth: number;
  serverGrowth: number;
}

async function streamRun(keys: ReturnType<typeof makeBenchKeys>): Promise<StreamRun> {
  const child = fork(SERVER, [keys.hostKeyPath, keys.authorizedKeysPath], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  try {
    const [{ port }] = (await once(child, 'message')) as [{ port: number }];
    const conn = await connect('127.0.0.1', port, {
      identity: keys.client,
      knownHosts: await KnownHosts.load(await keys.knownHostsFor(port)),
    });
    const api = conn.root as Remote<StreamService>;
    const serverRss = async () => {
      const reply = once(child, 'message') as Promise<[{ peak: number; rss: number }]>;
      child.send({ rss: true });
      return (await reply)[0];
    };
    const drain = async (bytes: number) => {
      let got = 0;
      for await (const chunk of await api.download(bytes)) got += chunk.byteLength;
      if (got !== bytes) throw new Error(`read ${got} bytes of ${bytes}`);
    };
    await drain(16 * MIB); // warm-up
    const serverBase = (await serverRss()).rss;
    const clientBase = process.memoryUsage.rss();
    let clientPeak = clientBase;
    const sampler = setInterval(() => {
      clientPeak = Math.max(clientPeak, process.memoryUsage.rss());
    }, 100);
    const started = performance.now();
    await drain(TOTAL);
    const seconds = (performance.now() - started) / 1000;
    clearInterval(sampler);
    const server = await serverRss();
    conn.close();
    return {
      mibPerSecond: TOTAL / MIB / seconds,
      clientGrowth: clientPeak - clientBase,
      serverGrowth: server.peak - serverBase,
    };
  } finally {
    child.disconnect();
    await once(child, 'exit');
  }
}

const keys = makeBenchKeys();
console.log(
  `byte-stream benchmark — Node ${process.version}, ${TOTAL / MIB} MiB per stream, ${ROUNDS} rounds`,
);
const channel: number[] = [];
const streams: StreamRun[] = [];
for (let round = 0; round < ROUNDS; round++) {
  channel.push(await channelBulk());
  streams.push(await streamRun(keys));
  const s = streams[round]!;
  console.log(
    `  round ${round + 1}: channel bulk ${channel[round]!.toFixed(0)} MiB/s, stream ${s.mibPerSecond.toFixed(0)} MiB/s, ` +
      `RSS growth client ${(s.clientGrowth / MIB).toFixed(1)} MiB, server ${(s.serverGrowth / MIB).toFixed(1)} MiB`,
  );
}
const bulk = median(channel);
const stream = median(streams.map((s) => s.mibPerSecond));
console.log(
  `\nmedian: channel bulk ${bulk.toFixed(0)} MiB/s, byte stream ${stream.toFixed(0)} MiB/s: ` +
    `${(stream / bulk).toFixed(2)}x the channel (target >= 0.8x: ${stream / bulk >= 0.8 ? 'met' : 'NOT met'})`,
);
console.log(
  `RSS growth during the stream, worst round: client ${(Math.max(...streams.map((s) => s.clientGrowth)) / MIB).toFixed(1)} MiB, ` +
    `server ${(Math.max(...streams.map((s) => s.serverGrowth)) / MIB).toFixed(1)} MiB`,
);
