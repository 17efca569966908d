/**
 * The client end of the server scaling benchmark (server-scaling.ts), in a child process of
 * its own: logs in `connections` times with its key, runs one workload for `seconds` after
 * a short warm-up, and prints two JSON lines: `{ "start": true }` as the timed window
 * opens (the parent samples the servers' CPU time then), and `{ calls, seconds,
 * cpuMicros }` when it closes, `cpuMicros` being this process's own CPU time in the window.
 *
 * Workloads: `cpu` (each connection calls `spin(5)` back to back), `seq` (each connection
 * calls `add` back to back), `inflight100` (batches of 100 `add` calls in flight).
 *
 * Usage: `node dist/server-scaling-client.js <port> <client key> <known_hosts> <workload>
 * <connections> <seconds>`
 */
import { performance } from 'node:perf_hooks';
import type { Remote } from '@keyway/core';
import { KnownHosts, loadIdentity } from '@keyway/secure';
import { connect } from '@keyway/server';
import type Calculator from './server-fixtures/calculator.js';

const [port, keyPath, knownHostsPath, workload, connections, seconds] = process.argv.slice(2);
if (port === undefined || keyPath === undefined || knownHostsPath === undefined) {
  throw new TypeError(
    'usage: server-scaling-client.js <port> <key> <known_hosts> <workload> <connections> <seconds>',
  );
}
const identity = await loadIdentity(keyPath);
const knownHosts = await KnownHosts.load(knownHostsPath);
const conns = await Promise.all(
  Array.from({ length: Number(connections ?? 1) }, () =>
    connect('127.0.0.1', Number(port), { identity, knownHosts, timeout: 60_000 }),
  ),
);

/** Calls one connection completes before `deadline`, at most `max`. */
async function loop(calc: Remote<Calculator>, deadline: number, max = 10_000_000) {
  let n = 0;
  if (workload === 'cpu') {
    while (n < max && performance.now() < deadline) {
      await calc.spin(5);
      n++;
    }
  } else if (workload === 'seq') {
    while (n < max && performance.now() < deadline) {
      if ((await calc.add(n, 1)) !== n + 1) throw new Error('wrong sum');
      n++;
    }
  } else if (workload === 'inflight100') {
    const batch = new Array<Promise<number>>(100);
    while (n < max && performance.now() < deadline) {
      for (let i = 0; i < 100; i++) batch[i] = calc.add(i, 1);
      await Promise.all(batch);
      n += 100;
    }
  } else {
    throw new TypeError(`unknown workload ${String(workload)}`);
  }
  return n;
}

const calcs = conns.map((c) => c.root as Remote<Calculator>);
await Promise.all(calcs.map((c) => loop(c, performance.now() + 300)));
process.stdout.write(`${JSON.stringify({ start: true })}\n`);
const cpuBefore = process.cpuUsage();
const start = performance.now();
const counts = await Promise.all(calcs.map((c) => loop(c, start + Number(seconds ?? 2) * 1000)));
const elapsed = (performance.now() - start) / 1000;
const cpu = process.cpuUsage(cpuBefore);
process.stdout.write(
  `${JSON.stringify({
    calls: counts.reduce((a, b) => a + b, 0),
    seconds: elapsed,
    cpuMicros: cpu.user + cpu.system,
  })}\n`,
);
await Promise.all(conns.map((c) => c.close()));
