/**
 * The two call patterns of the server benchmark (docs/design.md §6), each bounded by a call
 * count and a time budget: sequential round trips, and batches of 100 calls in flight
 * (`Promise.all` of 100, as `rpyc_calls.py` waits on 100 `async_` results).
 */
import { performance } from 'node:perf_hooks';

/** A remote `add(a, b)`. */
export type Add = (a: number, b: number) => Promise<number>;

/** One measurement: calls completed, wall time, CPU of this process over that time. */
export interface Measurement {
  calls: number;
  seconds: number;
  /** User + system CPU of this whole process (every thread) during the run, in µs. */
  cpuMicros: number;
}

/** Which pattern to run. */
export type Pattern = 'sequential' | 'inflight100';

/** Calls in flight in the `inflight100` pattern. */
export const WIDTH = 100;

async function sequential(add: Add, maxCalls: number, deadline: number): Promise<number> {
  let n = 0;
  while (n < maxCalls && performance.now() < deadline) {
    const sum = await add(n, 1);
    if (sum !== n + 1) throw new Error(`add(${n}, 1) returned ${sum}`);
    n++;
  }
  return n;
}

async function inFlight(add: Add, maxCalls: number, deadline: number): Promise<number> {
  let n = 0;
  const batch = new Array<Promise<number>>(WIDTH);
  while (n < maxCalls && performance.now() < deadline) {
    for (let i = 0; i < WIDTH; i++) batch[i] = add(i, 1);
    const sums = await Promise.all(batch);
    if (sums[WIDTH - 1] !== WIDTH) throw new Error(`add(${WIDTH - 1}, 1) returned ${sums[99]}`);
    n += WIDTH;
  }
  return n;
}

/**
 * Runs `pattern` for up to `seconds` (and at most `maxCalls` calls) after a short
 * warm-up, so the JIT has compiled the call path before the clock starts.
 * @param onWindow called just before and just after the timed window (to sample the
 *   other end's CPU when it lives in another process)
 */
export async function measure(
  add: Add,
  pattern: Pattern,
  seconds: number,
  maxCalls = 5_000_000,
  onWindow?: (edge: 'start' | 'end') => void,
): Promise<Measurement> {
  const run = pattern === 'sequential' ? sequential : inFlight;
  await run(add, maxCalls, performance.now() + Math.min(500, seconds * 250));
  onWindow?.('start');
  const cpu = process.cpuUsage();
  const start = performance.now();
  const calls = await run(add, maxCalls, start + seconds * 1000);
  const elapsed = (performance.now() - start) / 1000;
  const used = process.cpuUsage(cpu);
  onWindow?.('end');
  return { calls, seconds: elapsed, cpuMicros: used.user + used.system };
}
