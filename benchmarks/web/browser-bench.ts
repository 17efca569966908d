/**
 * The page side of the browser benchmark (bundled by src/browser-calls.ts): from inside
 * Chromium, times keyway's `connect()` over WebSocket (Noise XX with the server's key
 * pinned, anonymous client) and Cap'n Web's `newWebSocketRpcSession()` to the same
 * machine, each to its first answered call, then sequential calls and batches of 100 in
 * flight for a fixed time each. Returns plain numbers; the Node side prints the table.
 */
import { newWebSocketRpcSession } from 'capnweb';
import { connect } from 'keyway-rpc';

interface Add {
  add(a: number, b: number): Promise<number>;
}

interface Config {
  keywayUrl: string;
  capnwebUrl: string;
  hostKey: string;
  connects: number;
  seconds: number;
}

interface Side {
  /** Time to an open session and its first answered call, ms, one value per attempt. */
  connectMs: number[];
  sequentialPerSecond: number;
  inflight100PerSecond: number;
}

async function timed(add: Add, seconds: number, batch: number): Promise<number> {
  const end = performance.now() + seconds * 1000;
  const start = performance.now();
  let calls = 0;
  // Bounded by time, and by count as a second guard.
  while (performance.now() < end && calls < 50_000_000) {
    if (batch === 1) await add.add(calls, 1);
    else await Promise.all(Array.from({ length: batch }, (_, i) => add.add(i, 1)));
    calls += batch;
  }
  return calls / ((performance.now() - start) / 1000);
}

async function keyway(config: Config): Promise<Side> {
  const connectMs: number[] = [];
  for (let i = 0; i < config.connects; i++) {
    const t = performance.now();
    const conn = await connect(config.keywayUrl, { hostKey: config.hostKey });
    await (conn.root as unknown as Add).add(1, 2);
    connectMs.push(performance.now() - t);
    await conn.close();
  }
  const conn = await connect(config.keywayUrl, { hostKey: config.hostKey });
  const add = conn.root as unknown as Add;
  const sequentialPerSecond = await timed(add, config.seconds, 1);
  const inflight100PerSecond = await timed(add, config.seconds, 100);
  await conn.close();
  return { connectMs, sequentialPerSecond, inflight100PerSecond };
}

async function capnweb(config: Config): Promise<Side> {
  const connectMs: number[] = [];
  for (let i = 0; i < config.connects; i++) {
    const t = performance.now();
    const stub = newWebSocketRpcSession<Add>(config.capnwebUrl);
    await stub.add(1, 2);
    connectMs.push(performance.now() - t);
    stub[Symbol.dispose]();
  }
  const stub = newWebSocketRpcSession<Add>(config.capnwebUrl);
  const add: Add = { add: (a, b) => stub.add(a, b) };
  const sequentialPerSecond = await timed(add, config.seconds, 1);
  const inflight100PerSecond = await timed(add, config.seconds, 100);
  stub[Symbol.dispose]();
  return { connectMs, sequentialPerSecond, inflight100PerSecond };
}

(globalThis as unknown as { bench: (c: Config) => Promise<unknown> }).bench = async (config) => ({
  keyway: await keyway(config),
  capnweb: await capnweb(config),
});
document.title = 'bench ready';
