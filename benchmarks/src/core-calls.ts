/**
 * Micro-benchmark of the core RPC engine (docs/design.md §6 "Targets"): calls per second,
 * sequential and with 100 and 1,000 calls in flight, over the in-memory pair and over loopback TCP
 * (length-prefixed framing, no encryption), and CPU time per call with both ends in this
 * one process. Beside it, a baseline measured in the same run: a bare JSON
 * request/reply over the same transports with no RPC engine (no proxies, gate, tables),
 * which shows what the engine itself costs. Prints numbers; asserts nothing.
 *
 * Run: `pnpm --filter @keyway/benchmarks build && pnpm --filter @keyway/benchmarks bench:core`
 * With `CORE_BENCH_BUDGET=1` the serving side draws on a `SharedBudget`, as a server's
 * connections do, to measure what the budget costs per call.
 */
import { once } from 'node:events';
import { createServer, connect as netConnect, type Socket } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import {
  type Connection,
  connectTransport,
  duplexTransport,
  memoryTransportPair,
  type Remote,
  Service,
  SharedBudget,
  type Transport,
} from '@keyway/core';
import { BenchReport } from './report.js';

class Calculator extends Service {
  add(a: number, b: number): number {
    return a + b;
  }
}

type Calc = Remote<Calculator>;

async function tcpTransports(): Promise<{ pair: [Transport, Transport]; sockets: Socket[] }> {
  const listener = createServer();
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  const address = listener.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  const accepted = once(listener, 'connection') as Promise<[Socket]>;
  const client = netConnect(address.port, '127.0.0.1');
  await once(client, 'connect');
  const [server] = await accepted;
  listener.close();
  client.setNoDelay(true);
  server.setNoDelay(true);
  return { pair: [duplexTransport(server), duplexTransport(client)], sockets: [client, server] };
}

const budget = process.env.CORE_BENCH_BUDGET === '1' ? new SharedBudget() : undefined;

async function connect(
  kind: 'memory' | 'tcp',
): Promise<{ client: Connection; server: Connection }> {
  const [a, b] = kind === 'memory' ? memoryTransportPair() : (await tcpTransports()).pair;
  const [server, client] = await Promise.all([
    connectTransport(a, { service: Calculator, budget, budgetKey: 'bench' }),
    connectTransport(b),
  ]);
  return { client, server };
}

interface Result {
  callsPerSecond: number;
  cpuMicrosPerCall: number;
}

async function sequential(calc: Calc, calls: number): Promise<void> {
  for (let i = 0; i < calls; i++) await calc.add(i, 1);
}

async function inFlight(calc: Calc, calls: number, width: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < calls) {
      next++;
      await calc.add(next, 1);
    }
  };
  await Promise.all(Array.from({ length: width }, worker));
}

async function measure(run: (n: number) => Promise<void>, calls: number): Promise<Result> {
  await run(Math.min(20_000, calls)); // warm up the JIT
  const cpu = process.cpuUsage();
  const start = process.hrtime.bigint();
  await run(calls);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const used = process.cpuUsage(cpu);
  return {
    callsPerSecond: calls / seconds,
    cpuMicrosPerCall: (used.user + used.system) / calls,
  };
}

function row(name: string, r: Result): string {
  const rate = Math.round(r.callsPerSecond).toLocaleString('en-US').padStart(10);
  return `${name.padEnd(34)} ${rate} calls/s   ${r.cpuMicrosPerCall.toFixed(2).padStart(6)} µs CPU/call`;
}

/** The floor: JSON `[id, a, b]` → `[id, a + b]` over the same transport, no engine. */
async function baseline(kind: 'memory' | 'tcp') {
  const [a, b] = kind === 'memory' ? memoryTransportPair() : (await tcpTransports()).pair;
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  a.start({
    onMessage: (data) => {
      const [id, x, y] = JSON.parse(decoder.decode(data)) as [number, number, number];
      a.send(encoder.encode(JSON.stringify([id, x + y])));
    },
    onClose: () => {},
  });
  const waiting = new Map<number, (value: number) => void>();
  b.start({
    onMessage: (data) => {
      const [id, sum] = JSON.parse(decoder.decode(data)) as [number, number];
      const resolve = waiting.get(id);
      waiting.delete(id);
      resolve?.(sum);
    },
    onClose: () => {},
  });
  let nextId = 0;
  const add = (x: number, y: number) =>
    new Promise<number>((resolve) => {
      const id = nextId++;
      waiting.set(id, resolve);
      b.send(encoder.encode(JSON.stringify([id, x, y])));
    });
  return { add: add as unknown as Calc['add'], close: () => b.close() };
}

/** Heap bytes per idle connected pair (both sides), with a forced GC around the count. */
async function heapPerConnection(pairs: number): Promise<number> {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  gc();
  const before = process.memoryUsage().heapUsed;
  const held: Connection[] = [];
  for (let i = 0; i < pairs; i++) {
    const { client, server } = await connect('memory');
    await (client.root as Calc).add(1, 2);
    held.push(client, server);
  }
  await new Promise((r) => setTimeout(r, 50));
  gc();
  const after = process.memoryUsage().heapUsed;
  await Promise.all(held.map((c) => c.close()));
  return (after - before) / pairs;
}

async function main(): Promise<void> {
  const calls = Number(process.env.CORE_BENCH_CALLS ?? 200_000);
  const report = new BenchReport('core-calls', 11);
  console.log(`keyway core: ${calls} calls of add(a, b) per measurement, Node ${process.version}`);
  if (budget !== undefined) console.log('the serving side draws on a SharedBudget');
  console.log('(CPU per call counts both ends: client and server run in this process)\n');
  const timed = async (label: string, run: (n: number) => Promise<void>): Promise<void> => {
    report.step(label);
    const measured = await measure(run, calls);
    report.record(label.trim(), measured);
    console.log(row(label, measured));
  };
  for (const kind of ['memory', 'tcp'] as const) {
    const { client, server } = await connect(kind);
    const calc = client.root as Calc;
    await timed(`${kind}: sequential`, (n) => sequential(calc, n));
    await timed(`${kind}: 100 in flight`, (n) => inFlight(calc, n, 100));
    await timed(`${kind}: 1000 in flight`, (n) => inFlight(calc, n, 1000));
    await client.close();
    await server.closed;
    const floor = await baseline(kind);
    const bare = { add: floor.add } as unknown as Calc;
    await timed(`  baseline ${kind}: sequential`, (n) => sequential(bare, n));
    await timed(`  baseline ${kind}: 100 in flight`, (n) => inFlight(bare, n, 100));
    floor.close();
  }
  report.step('heap per idle connection');
  const perPair = await heapPerConnection(2_000);
  report.record('heapBytesPerIdlePair', Math.round(perPair));
  console.log(
    `\nheap per idle connected pair (both ends, memory transport): ${(perPair / 1024).toFixed(1)} KiB`,
  );
  report.save();
}

await main();
