/**
 * The client end of the server benchmark run as a child process (docs/design.md §6), so the
 * client and the server each have a core, as on two machines. It logs in with its key,
 * runs both call patterns and writes JSON lines to stdout: `{"edge":…}` just before and
 * after each timed window (the parent samples the server's CPU there), then
 * `{"pattern":…,"result":…}`.
 *
 * Usage: `node dist/server-client.js <port> <client key> <known_hosts> <seconds>`
 */

import type { Remote } from '@keyway/core';
import { KnownHosts, loadIdentity } from '@keyway/secure';
import { connect } from '@keyway/server';
import type Calculator from './server-fixtures/calculator.js';
import { type Add, measure, type Pattern } from './server-measure.js';

const [port, keyPath, knownHostsPath, seconds] = process.argv.slice(2);
if (port === undefined || keyPath === undefined || knownHostsPath === undefined) {
  throw new TypeError('usage: server-client.js <port> <client key> <known_hosts> <seconds>');
}
const conn = await connect('127.0.0.1', Number(port), {
  identity: await loadIdentity(keyPath),
  knownHosts: await KnownHosts.load(knownHostsPath),
});
const calc = conn.root as Remote<Calculator>;
const add: Add = (a, b) => calc.add(a, b);
const say = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);
for (const pattern of ['sequential', 'inflight100'] as Pattern[]) {
  const result = await measure(add, pattern, Number(seconds ?? 2), undefined, (edge) =>
    say({ edge, pattern }),
  );
  say({ pattern, result });
}
await conn.close();
