/**
 * Decode benchmark: the codec's single-pass decoder (`wire-decode.ts`) against the
 * reference it replaced (the structural scan `scanMessage`, then msgpackr), both measured
 * in this one process, rounds interleaved, medians and their ratio printed.
 *
 * 1. Per message: real messages recorded off a connection (a trivial call's request and
 *    its reply, replies carrying a small record, 2,000 records, 16 KiB of bytes, and
 *    non-ASCII text), each decoded by a `Codec` with the default limits. Every decode reads
 *    a fresh copy of the message, as a connection does.
 * 2. End to end: CPU per call at 1,000 calls in flight over the in-memory pair, both ends
 *    in this process, with every codec switched to one decoder or the other per run.
 *
 * Run: `pnpm --filter @keyway/benchmarks build && pnpm --filter @keyway/benchmarks bench:decode`
 * Environment: BENCH_ROUNDS (default 9), DECODE_BENCH_CALLS per end-to-end run (default
 * 200,000).
 */
import {
  type Connection,
  connectTransport,
  memoryTransportPair,
  type Remote,
  Service,
  type Transport,
} from '@keyway/core';
// Internals of the built core package, reached by path on purpose: the reference decoder
// is not part of the package's API.
import {
  Codec,
  DEFAULT_CODEC_MAX_MESSAGE_BYTES,
  DEFAULT_MAX_DEPTH,
  DEFAULT_MAX_ELEMENTS,
  useReferenceDecoder,
} from '../../packages/core/dist/codec.js';
import { BenchReport } from './report.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 9);
const CALLS = Number(process.env.DECODE_BENCH_CALLS ?? 200_000);

class Bench extends Service {
  add(a: number, b: number): number {
    return a + b;
  }
  user() {
    return { id: 4217, name: 'ada', email: 'ada@example.org', active: true, score: 3.5 };
  }
  rows(n: number) {
    return Array.from({ length: n }, (_, i) => ({
      id: i,
      name: `row-${i}`,
      price: i * 1.25,
      tags: ['a', 'b'],
      ok: i % 2 === 0,
    }));
  }
  bytes(n: number): Uint8Array {
    return new Uint8Array(n).fill(7);
  }
  text(n: number): string {
    return 'Grüße, 世界! café ☕ '.repeat(n);
  }
}

type BenchRemote = Remote<Bench>;

/** A transport that keeps a copy of every message it delivers. */
function recording(inner: Transport, log: Uint8Array[]): Transport {
  return {
    send: (data) => inner.send(data),
    close: (error) => inner.close(error),
    start: (receiver) =>
      inner.start({
        onMessage: (data) => {
          log.push(data.slice());
          receiver.onMessage(data);
        },
        onClose: (error) => receiver.onClose(error),
      }),
  };
}

/** The message that reached the client (a reply) or server (a request) during `call`. */
async function record(
  remote: BenchRemote,
  toClient: Uint8Array[],
  toServer: Uint8Array[],
  call: (r: BenchRemote) => Promise<unknown>,
): Promise<{ request: Uint8Array; reply: Uint8Array }> {
  toClient.length = 0;
  toServer.length = 0;
  await call(remote);
  const request = toServer.at(-1);
  const reply = toClient.at(-1);
  if (request === undefined || reply === undefined) throw new Error('nothing recorded');
  return { request, reply };
}

interface Case {
  label: string;
  bytes: Uint8Array;
}

async function recordCases(): Promise<Case[]> {
  const toClient: Uint8Array[] = [];
  const toServer: Uint8Array[] = [];
  const [a, b] = memoryTransportPair();
  const [server, client] = await Promise.all([
    connectTransport(recording(a, toServer), { service: Bench }),
    connectTransport(recording(b, toClient)),
  ]);
  const remote = client.root as BenchRemote;
  const add = await record(remote, toClient, toServer, (r) => r.add(1, 2));
  const user = await record(remote, toClient, toServer, (r) => r.user());
  const rows = await record(remote, toClient, toServer, (r) => r.rows(2000));
  const bytes = await record(remote, toClient, toServer, (r) => r.bytes(16 * 1024));
  const text = await record(remote, toClient, toServer, (r) => r.text(200));
  await client.close();
  await server.closed;
  return [
    { label: 'trivial call: request add(1, 2)', bytes: add.request },
    { label: 'trivial call: its reply', bytes: add.reply },
    { label: 'reply: a small record (5 fields)', bytes: user.reply },
    { label: 'reply: 2,000 records of 5 fields', bytes: rows.reply },
    { label: 'reply: 16 KiB Uint8Array', bytes: bytes.reply },
    { label: 'reply: non-ASCII text', bytes: text.reply },
  ];
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/** `count` fresh copies of `bytes`, side by side in one buffer as a receive buffer holds them. */
function copies(bytes: Uint8Array, count: number): Uint8Array[] {
  const all = new Uint8Array(bytes.byteLength * count);
  const out: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    all.set(bytes, i * bytes.byteLength);
    out.push(all.subarray(i * bytes.byteLength, (i + 1) * bytes.byteLength));
  }
  return out;
}

let sink = 0;

/**
 * CPU nanoseconds per decode of `bytes` with the decoder selected, over about 80 ms of
 * CPU (CPU time rather than wall time: the machine is shared, and a preempted run would
 * otherwise count the wait).
 */
function timeDecode(codec: Codec, bytes: Uint8Array, reference: boolean): number {
  useReferenceDecoder(reference);
  try {
    // Enough copies for ~4 MiB or 20,000 messages, decoded until 80 ms have passed.
    const count = Math.max(20, Math.min(20_000, Math.floor((4 * 1024 * 1024) / bytes.byteLength)));
    let decoded = 0;
    let elapsed = 0;
    while (elapsed < 80) {
      const batch = copies(bytes, count);
      const start = process.cpuUsage();
      for (const message of batch) {
        const value = codec.decode(message);
        if (value !== undefined) sink++;
      }
      const used = process.cpuUsage(start);
      elapsed += (used.user + used.system) / 1000;
      decoded += count;
    }
    return (elapsed * 1e6) / decoded;
  } finally {
    useReferenceDecoder(false);
  }
}

/** CPU µs per call of both ends, `calls` calls of add with `width` in flight. */
async function callsCpu(remote: BenchRemote, calls: number, width: number): Promise<number> {
  let next = 0;
  const worker = async () => {
    while (next < calls) {
      next++;
      await remote.add(next, 1);
    }
  };
  const cpu = process.cpuUsage();
  await Promise.all(Array.from({ length: width }, worker));
  const used = process.cpuUsage(cpu);
  return (used.user + used.system) / calls;
}

async function main(): Promise<void> {
  const cases = await recordCases();
  const report = new BenchReport('decode-pass', ROUNDS * 2 + 1);
  const codec = new Codec({
    maxMessageBytes: DEFAULT_CODEC_MAX_MESSAGE_BYTES,
    maxDepth: DEFAULT_MAX_DEPTH,
    maxElements: DEFAULT_MAX_ELEMENTS,
  });
  console.log(`keyway decode: single pass against scan + msgpackr, ${ROUNDS} interleaved rounds,`);
  console.log(`medians; Node ${process.version}\n`);

  const perMessage = cases.map(() => ({ single: [] as number[], reference: [] as number[] }));
  report.step('warm-up');
  for (const c of cases) {
    timeDecode(codec, c.bytes, false);
    timeDecode(codec, c.bytes, true);
  }
  for (let round = 0; round < ROUNDS; round++) {
    report.step(`per message, round ${round + 1}`);
    cases.forEach((c, i) => {
      // Alternate which decoder goes first, so neither always runs on a warmer cache.
      const order = round % 2 === 0 ? [false, true] : [true, false];
      for (const reference of order) {
        const ns = timeDecode(codec, c.bytes, reference);
        perMessage[i]![reference ? 'reference' : 'single'].push(ns);
      }
    });
  }
  const messageRows = cases.map((c, i) => {
    const single = median(perMessage[i]!.single);
    const reference = median(perMessage[i]!.reference);
    return {
      label: c.label,
      bytes: c.bytes.byteLength,
      single,
      reference,
      speedup: reference / single,
    };
  });
  console.log('| message | bytes | scan + msgpackr, ns CPU | single pass, ns CPU | speed-up |');
  console.log('| --- | --- | --- | --- | --- |');
  for (const r of messageRows)
    console.log(
      `| ${r.label} | ${r.bytes.toLocaleString('en-US')} | ${r.reference.toFixed(0)} | ${r.single.toFixed(0)} | ${r.speedup.toFixed(2)}x |`,
    );
  report.record('perMessage', messageRows);

  // End to end: both ends of a memory pair in this process, 1,000 calls in flight.
  const [a, b] = memoryTransportPair();
  const [server, client] = await Promise.all([
    connectTransport(a, { service: Bench }),
    connectTransport(b),
  ]);
  const remote = client.root as BenchRemote;
  await callsCpu(remote, 20_000, 1000); // warm up the JIT
  const e2e = { single: [] as number[], reference: [] as number[] };
  for (let round = 0; round < ROUNDS; round++) {
    report.step(`end to end, round ${round + 1}`);
    const order = round % 2 === 0 ? [false, true] : [true, false];
    for (const reference of order) {
      useReferenceDecoder(reference);
      try {
        e2e[reference ? 'reference' : 'single'].push(await callsCpu(remote, CALLS, 1000));
      } finally {
        useReferenceDecoder(false);
      }
    }
  }
  await closeAll([client, server]);
  const single = median(e2e.single);
  const reference = median(e2e.reference);
  console.log(
    `\nCPU per call, both ends, 1,000 in flight over the memory pair (${CALLS.toLocaleString('en-US')} calls per run):`,
  );
  console.log(
    `scan + msgpackr ${reference.toFixed(2)} µs, single pass ${single.toFixed(2)} µs: ` +
      `${(single / reference).toFixed(3)}x the CPU (range ${range(e2e.single)} against ${range(e2e.reference)})`,
  );
  report.record('endToEnd1000InFlight', {
    calls: CALLS,
    referenceCpuMicrosPerCall: reference,
    singleCpuMicrosPerCall: single,
    ratio: single / reference,
    rounds: e2e,
  });
  report.record('rounds', ROUNDS);
  report.save();
  if (sink < 0) console.log(sink);
}

function range(values: number[]): string {
  return `${Math.min(...values).toFixed(2)}–${Math.max(...values).toFixed(2)}`;
}

async function closeAll(connections: Connection[]): Promise<void> {
  await Promise.all(connections.map((c) => c.close()));
}

await main();
