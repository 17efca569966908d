/**
 * The client side of the idle-connections benchmark (docs/design.md §6: 10,000 idle
 * authenticated connections on one server), run as a child process so that the server's
 * process holds only its own sockets and its memory is measured alone. It opens the
 * connections in batches of bounded concurrency, then waits for the parent's commands on
 * stdin (`check`, `close`, then the end of stdin), writing one JSON line to stdout per step.
 *
 * Usage: `node --expose-gc dist/server-idle-client.js <port> <client key> <known_hosts>
 *   <count> <concurrency>`
 */
import { createInterface } from 'node:readline';
import type { Connection, Remote } from '@keyway/core';
import { KnownHosts, loadIdentity } from '@keyway/secure';
import { connect } from '@keyway/server';
import type Calculator from './server-fixtures/calculator.js';

const [port, keyPath, knownHostsPath, countArg, concurrencyArg] = process.argv.slice(2);
if (port === undefined || keyPath === undefined || knownHostsPath === undefined) {
  throw new TypeError(
    'usage: server-idle-client.js <port> <client key> <known_hosts> <count> <concurrency>',
  );
}
const COUNT = Number(countArg ?? 1000);
const CONCURRENCY = Number(concurrencyArg ?? 200);
/** No phase may take longer than this; the parent kills a child that hangs anyway. */
const PHASE_MS = Number(process.env.IDLE_PHASE_SECONDS ?? 300) * 1000;

const say = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);
const identity = await loadIdentity(keyPath);
const knownHosts = await KnownHosts.load(knownHostsPath);
const connections: Connection[] = [];
const calculator = (i: number) => (connections[i] as Connection).root as Remote<Calculator>;

/**
 * Runs `task(i)` for i in [0, count) with at most `width` running at once, stopping
 * early at `deadline`.
 * @returns how many tasks ran, and the errors they threw (first few kept)
 */
async function bounded(
  count: number,
  width: number,
  deadline: number,
  task: (i: number) => Promise<void>,
): Promise<{ ran: number; failures: number; firstErrors: string[] }> {
  let next = 0;
  let failures = 0;
  const firstErrors: string[] = [];
  const worker = async () => {
    while (next < count && performance.now() < deadline) {
      const i = next++;
      try {
        await task(i);
      } catch (error) {
        failures++;
        if (firstErrors.length < 5) firstErrors.push(String(error));
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, count) }, worker));
  return { ran: next, failures, firstErrors };
}

function heap() {
  globalThis.gc?.();
  const m = process.memoryUsage();
  return { heapUsed: m.heapUsed, external: m.external, rss: m.rss };
}

async function open(): Promise<void> {
  const before = heap();
  const start = performance.now();
  let lastReport = start;
  const result = await bounded(COUNT, CONCURRENCY, start + PHASE_MS, async () => {
    connections.push(await connect('127.0.0.1', Number(port), { identity, knownHosts }));
    const now = performance.now();
    if (now - lastReport > 2000) {
      lastReport = now;
      say({ progress: connections.length });
    }
  });
  const ms = performance.now() - start;
  say({ opened: connections.length, ms, ...result, clientBefore: before, clientAfter: heap() });
}

/** Percentile of sorted values (nearest rank). */
const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;

async function check(): Promise<void> {
  // 100 connections picked at random, called one at a time: the latency of waking an
  // idle connection among many.
  const samples = Math.min(100, connections.length);
  const latencies: number[] = [];
  let sampleFailures = 0;
  for (let i = 0; i < samples; i++) {
    const calc = calculator(Math.floor(Math.random() * connections.length));
    const start = performance.now();
    try {
      const sum = await calc.add(i, 1);
      if (sum !== i + 1) throw new Error(`add(${i}, 1) returned ${sum}`);
      latencies.push(performance.now() - start);
    } catch {
      sampleFailures++;
    }
  }
  latencies.sort((a, b) => a - b);
  // Then every connection once, CONCURRENCY at a time.
  const start = performance.now();
  const all = await bounded(connections.length, CONCURRENCY, start + PHASE_MS, async (i) => {
    const sum = await calculator(i).add(i, 1);
    if (sum !== i + 1) throw new Error(`add(${i}, 1) returned ${sum}`);
  });
  say({
    checked: true,
    samples,
    sampleFailures,
    sampleP50Ms: percentile(latencies, 50),
    sampleP99Ms: percentile(latencies, 99),
    sampleMaxMs: latencies.at(-1),
    pingAllMs: performance.now() - start,
    pinged: all.ran,
    pingFailures: all.failures,
    pingErrors: all.firstErrors,
  });
}

async function close(): Promise<void> {
  const start = performance.now();
  const result = await bounded(connections.length, CONCURRENCY, start + PHASE_MS, (i) =>
    (connections[i] as Connection).close(),
  );
  say({ closed: result.ran, ms: performance.now() - start, failures: result.failures });
}

await open();
for await (const line of createInterface({ input: process.stdin })) {
  if (line === 'check') await check();
  else if (line === 'close') await close();
}
// stdin ended: the parent has measured what it wanted with this process still alive (so
// the server's sockets closed because the clients closed them, not because we exited).
process.exit(0);
