/**
 * The client end of the load-balancer benchmark, run as a child process: opens
 * `connections` connections to one port and keeps `inflight` calls in flight on each for
 * `seconds`, then prints `{"calls":…,"seconds":…}`.
 *
 * Usage: `node dist/load-balancer-client.js <port> <client key> <known_hosts> <connections> <inflight> <seconds>`
 */
import type { Remote } from '@keyway/core';
import { KnownHosts, loadIdentity } from '@keyway/secure';
import { connect } from '@keyway/server';
import type Calculator from './server-fixtures/calculator.js';

const [port, keyPath, knownHostsPath, connections, inflight, seconds] = process.argv.slice(2);
if (seconds === undefined) {
  throw new TypeError(
    'usage: load-balancer-client.js <port> <key> <known_hosts> <connections> <inflight> <seconds>',
  );
}
const identity = await loadIdentity(keyPath as string);
const knownHosts = await KnownHosts.load(knownHostsPath as string);
// One login at a time: the server's maxStartups would drop some of a burst from one address.
const conns = [];
for (let i = 0; i < Number(connections); i++) {
  conns.push(await connect('127.0.0.1', Number(port), { identity, knownHosts, timeout: 30_000 }));
}
let calls = 0;
const started = performance.now();
const end = started + Number(seconds) * 1000;
await Promise.all(
  conns.flatMap((conn) => {
    const calc = conn.root as Remote<Calculator>;
    return Array.from({ length: Number(inflight) }, async () => {
      while (performance.now() < end) {
        await calc.add(1, 2);
        calls++;
      }
    });
  }),
);
const elapsed = (performance.now() - started) / 1000;
await Promise.all(conns.map((c) => c.close()));
process.stdout.write(`${JSON.stringify({ calls, seconds: elapsed })}\n`);
