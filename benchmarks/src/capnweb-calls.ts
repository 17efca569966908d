/**
 * keyway vs Cap'n Web (docs/design.md §6 "Targets"): calls per
 * second of the same `add(a, b)` service, sequential round trips and batches of 100 calls
 * in flight, over
 *
 * - capnweb 0.12 on a loopback WebSocket (`ws` server and client on 127.0.0.1),
 * - keyway core on plain loopback TCP (`duplexTransport` + `connectTransport`), and
 * - keyway over its public-key-authenticated encrypted channel (`ThreadedServer` +
 *   `connect`, Noise XX, ChaCha20-Poly1305),
 *
 * all measured by this one script with both ends in this process, so the CPU µs per call
 * counts both ends. Prints a table with ratios keyway/capnweb; asserts nothing.
 *
 * Run: `pnpm build && pnpm --filter @keyway/benchmarks bench:capnweb`
 * Environment: CAPNWEB_BENCH_SECONDS (default 1) per timed window, CAPNWEB_BENCH_ROUNDS
 * (default 3) windows per variant and pattern, taken in turn; the table shows the median.
 */
import { once } from 'node:events';
import { createServer, connect as netConnect, type Socket } from 'node:net';
import { newWebSocketRpcSession, RpcTarget } from 'capnweb';
import {
  AuthorizedKeys,
  type Connection,
  connect,
  connectTransport,
  duplexTransport,
  KnownHosts,
  publicKeyAuth,
  type Remote,
  ThreadedServer,
} from 'keyway-rpc';
import { WebSocket, WebSocketServer } from 'ws';
import { BenchReport } from './report.js';
import Calculator from './server-fixtures/calculator.js';
import { makeBenchKeys } from './server-keys.js';
import { type Add, type Measurement, measure, type Pattern } from './server-measure.js';

const SECONDS = Number(process.env.CAPNWEB_BENCH_SECONDS ?? 1);
const ROUNDS = Number(process.env.CAPNWEB_BENCH_ROUNDS ?? 3);
const PATTERNS: readonly Pattern[] = ['sequential', 'inflight100'];

/** capnweb's form of the service: an RpcTarget whose methods the peer may call. */
class CapnwebCalculator extends RpcTarget {
  add(a: number, b: number): number {
    return a + b;
  }
}

/** One variant set up and ready: its `add`, and how to tear it down. */
interface Variant {
  add: Add;
  close(): Promise<void>;
}

/**
 * capnweb's WebSocket transport compares `readyState` with the global `WebSocket.CONNECTING`,
 * which Node 20 defines only under `--experimental-websocket`; `ws` has the same constants,
 * and its sockets are what both ends use here anyway.
 */
function provideGlobalWebSocket(): void {
  const g = globalThis as { WebSocket?: unknown };
  g.WebSocket ??= WebSocket;
}

async function capnweb(): Promise<Variant> {
  provideGlobalWebSocket();
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(server, 'listening');
  server.on('connection', (socket) => {
    // `ws` sockets implement the addEventListener/send/close surface capnweb uses; its
    // typings name the DOM WebSocket, which this Node project does not load.
    newWebSocketRpcSession(socket as never, new CapnwebCalculator());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('expected a TCP address');
  const socket = new WebSocket(`ws://127.0.0.1:${address.port}`);
  await once(socket, 'open');
  const stub = newWebSocketRpcSession<CapnwebCalculator>(socket as never);
  return {
    add: (a, b) => stub.add(a, b),
    async close() {
      stub[Symbol.dispose]();
      socket.close();
      for (const client of server.clients) client.terminate();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

async function keywayTcp(): Promise<Variant> {
  const listener = createServer({ noDelay: true });
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  const address = listener.address();
  if (address === null || typeof address === 'string') throw new Error('expected a TCP address');
  const accepted = once(listener, 'connection') as Promise<[Socket]>;
  const socket = netConnect({ port: address.port, host: '127.0.0.1', noDelay: true });
  await once(socket, 'connect');
  const [serverSocket] = await accepted;
  listener.close();
  const [server, client] = await Promise.all([
    connectTransport(duplexTransport(serverSocket), { service: Calculator }),
    connectTransport(duplexTransport(socket)),
  ]);
  const calc = client.root as Remote<Calculator>;
  return {
    add: (a, b) => calc.add(a, b),
    async close() {
      await client.close();
      await server.closed;
    },
  };
}

async function keywaySecure(): Promise<Variant> {
  const keys = makeBenchKeys();
  const server = new ThreadedServer(Calculator, {
    authenticator: publicKeyAuth({
      identity: keys.host,
      authorizedKeys: await AuthorizedKeys.load(keys.authorizedKeysPath),
    }),
  });
  const bound = await server.listen();
  if (!('port' in bound)) throw new Error('expected a TCP address');
  let conn: Connection;
  try {
    conn = await connect('127.0.0.1', bound.port, {
      identity: keys.client,
      knownHosts: await KnownHosts.load(await keys.knownHostsFor(bound.port)),
    });
  } catch (error) {
    await server.close(0);
    keys.cleanup();
    throw error;
  }
  const calc = conn.root as Remote<Calculator>;
  return {
    add: (a, b) => calc.add(a, b),
    async close() {
      await conn.close();
      await server.close(1000);
      keys.cleanup();
    },
  };
}

interface Rate {
  callsPerSecond: number;
  cpuMicrosPerCall: number;
}

type Row = { name: string } & Record<Pattern, Rate>;

const rate = (m: Measurement): Rate => ({
  callsPerSecond: m.calls / m.seconds,
  cpuMicrosPerCall: m.cpuMicros / m.calls,
});

/** The middle value of one variant's rounds (the rounds are few; the mean would chase outliers). */
function median(rates: Rate[]): Rate {
  const sorted = [...rates].sort((a, b) => a.callsPerSecond - b.callsPerSecond);
  const middle = sorted[Math.floor(sorted.length / 2)];
  if (!middle) throw new Error('no rounds measured');
  return middle;
}

/**
 * Sets every variant up, then measures them in turn, round after round, so that a change
 * of load on this shared machine hits all of them rather than whichever ran at the time.
 */
async function runAll(
  setUps: [string, () => Promise<Variant>][],
  progress?: BenchReport,
): Promise<Row[]> {
  const variants: [string, Variant][] = [];
  try {
    for (const [name, setUp] of setUps) variants.push([name, await setUp()]);
    const rounds = variants.map(() => ({ sequential: [] as Rate[], inflight100: [] as Rate[] }));
    for (let round = 0; round < ROUNDS; round++) {
      for (const [i, [name, variant]] of variants.entries()) {
        progress?.step(`round ${round + 1}: ${name}`);
        for (const pattern of PATTERNS) {
          rounds[i]?.[pattern].push(rate(await measure(variant.add, pattern, SECONDS)));
        }
      }
    }
    return variants.map(([name], i) => ({
      name,
      sequential: median(rounds[i]?.sequential ?? []),
      inflight100: median(rounds[i]?.inflight100 ?? []),
    }));
  } finally {
    for (const [, variant] of variants) await variant.close();
  }
}

const fmt = (n: number, width: number) => Math.round(n).toLocaleString('en-US').padStart(width);
const pair = (a: string, b: string) => `${a} /${b}`.padStart(17);

function printTable(rows: Row[]): void {
  const base = rows[0];
  if (!base) return;
  console.log(
    `\n${'variant'.padEnd(30)}${'sequential'.padStart(11)}${'100 in flight'.padStart(14)}` +
      `${'CPU µs/call'.padStart(17)}${'x capnweb'.padStart(17)}`,
  );
  console.log(
    `${''.padEnd(30)}${'calls/s'.padStart(11)}${'calls/s'.padStart(14)}` +
      `${'seq / 100'.padStart(17)}${'seq / 100'.padStart(17)}`,
  );
  for (const row of rows) {
    const s = row.sequential;
    const f = row.inflight100;
    const ratio = (p: Pattern) =>
      `${(row[p].callsPerSecond / base[p].callsPerSecond).toFixed(1)}x`.padStart(6);
    console.log(
      `${row.name.padEnd(30)}${fmt(s.callsPerSecond, 11)}${fmt(f.callsPerSecond, 14)}` +
        pair(s.cpuMicrosPerCall.toFixed(1).padStart(6), f.cpuMicrosPerCall.toFixed(1).padStart(6)) +
        pair(ratio('sequential'), ratio('inflight100')),
    );
  }
  console.log(
    '\nTargets (docs/design.md §6): keyway core TCP sequential >= 3x capnweb; keyway ' +
      'authenticated 100 in flight >= 2x capnweb.',
  );
}

async function main(): Promise<void> {
  console.log(
    `keyway vs capnweb: add(a, b), both ends in this process, median of ${ROUNDS} rounds ` +
      `of ${SECONDS} s windows taken in turn, Node ${process.version}`,
  );
  const setUps: [string, () => Promise<Variant>][] = [
    ['capnweb 0.12, WebSocket (ws)', capnweb],
    ['keyway core, plain TCP', keywayTcp],
    ['keyway, authenticated Noise', keywaySecure],
  ];
  const report = new BenchReport('capnweb-calls', ROUNDS * setUps.length);
  const rows = await runAll(setUps, report);
  printTable(rows);
  report.record('rounds', ROUNDS);
  report.record('rows', rows);
  report.save();
}

await main();
