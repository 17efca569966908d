/**
 * Server benchmark (docs/design.md §6 "Targets"): round-trip calls per second over an
 * authenticated (Ed25519 public-key, Noise XX) encrypted connection to a ThreadedServer
 * and to a ThreadPoolServer — sequential, and in batches of 100 calls in flight — beside
 * RPyC 5.3 (plain and SSL, `rpyc/rpyc_calls.py`) measured by this same script, with
 * ratios keyway/RPyC. Each keyway server is measured with the client in this process
 * (like the RPyC script, whose client and server share one process) and with the client
 * in a child process (client and server each get a core). CPU per call counts both ends
 * in every row. Prints numbers; asserts nothing.
 *
 * Run: `pnpm --filter @keyway/benchmarks build && pnpm --filter @keyway/benchmarks bench:server`
 * Environment: SERVER_BENCH_SECONDS (default 2) per timed window.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Remote } from '@keyway/core';
import { AuthorizedKeys, KnownHosts, publicKeyAuth } from '@keyway/secure';
import { type BoundAddress, connect, ThreadedServer, ThreadPoolServer } from '@keyway/server';
import { BenchReport } from './report.js';
import Calculator from './server-fixtures/calculator.js';
import { type BenchKeys, makeBenchKeys } from './server-keys.js';
import { type Add, type Measurement, measure, type Pattern } from './server-measure.js';
import { type RpycResult, runRpyc } from './server-rpyc.js';

const SECONDS = Number(process.env.SERVER_BENCH_SECONDS ?? 2);
const PATTERNS: readonly Pattern[] = ['sequential', 'inflight100'];
const CLIENT = fileURLToPath(new URL('./server-client.js', import.meta.url));

/** Calls/s and CPU µs per call (both ends) of one pattern. */
interface Rate {
  callsPerSecond: number;
  cpuMicrosPerCall: number;
}

type Row = { name: string } & Record<Pattern, Rate>;

interface Server {
  listen(): Promise<BoundAddress>;
  close(graceMs?: number): Promise<void>;
}

function rate(m: Measurement, otherEndCpuMicros = 0): Rate {
  return {
    callsPerSecond: m.calls / m.seconds,
    cpuMicrosPerCall: (m.cpuMicros + otherEndCpuMicros) / m.calls,
  };
}

async function portOf(server: Server): Promise<number> {
  const address = await server.listen();
  if (!('port' in address)) throw new Error('expected a TCP address');
  return address.port;
}

/** Client in this process: its CPU and the server's are both this process's CPU. */
async function clientHere(keys: BenchKeys, port: number): Promise<Record<Pattern, Rate>> {
  const conn = await connect('127.0.0.1', port, {
    identity: keys.client,
    knownHosts: await KnownHosts.load(await keys.knownHostsFor(port)),
  });
  const calc = conn.root as Remote<Calculator>;
  const add: Add = (a, b) => calc.add(a, b);
  const out = {} as Record<Pattern, Rate>;
  for (const pattern of PATTERNS) out[pattern] = rate(await measure(add, pattern, SECONDS));
  await conn.close();
  return out;
}

/**
 * Client in a child process: this process samples its own CPU (the server's) at the
 * window edges the child announces, and adds the child's CPU for the same window.
 */
async function clientInChild(keys: BenchKeys, port: number): Promise<Record<Pattern, Rate>> {
  const knownHostsPath = await keys.knownHostsFor(port);
  const child = spawn(
    process.execPath,
    [CLIENT, String(port), keys.clientKeyPath, knownHostsPath, String(SECONDS)],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const limit = setTimeout(() => child.kill(), (SECONDS * 4 + 20) * 1000);
  const out = {} as Record<Pattern, Rate>;
  let serverCpu = process.cpuUsage();
  let serverMicros = 0;
  for await (const line of createInterface({ input: child.stdout })) {
    const message = JSON.parse(line) as {
      edge?: 'start' | 'end';
      pattern: Pattern;
      result?: Measurement;
    };
    if (message.edge === 'start') serverCpu = process.cpuUsage();
    else if (message.edge === 'end') {
      const used = process.cpuUsage(serverCpu);
      serverMicros = used.user + used.system;
    } else if (message.result) out[message.pattern] = rate(message.result, serverMicros);
  }
  clearTimeout(limit);
  const code = child.exitCode ?? (await new Promise((r) => child.once('exit', r)));
  if (code !== 0 || PATTERNS.some((p) => !out[p])) {
    throw new Error(`the client process failed (exit ${String(code)})`);
  }
  return out;
}

async function threaded(keys: BenchKeys): Promise<Server> {
  return new ThreadedServer(Calculator, {
    authenticator: publicKeyAuth({
      identity: keys.host,
      authorizedKeys: await AuthorizedKeys.load(keys.authorizedKeysPath),
    }),
  });
}

function pool(keys: BenchKeys): Server {
  // Workers import built JavaScript: the fixtures compiled next to this file.
  return new ThreadPoolServer(new URL('./server-fixtures/calculator.js', import.meta.url), {
    threads: 2,
    authenticator: {
      module: new URL('./server-fixtures/key-auth.js', import.meta.url).href,
      options: { hostKeyPath: keys.hostKeyPath, authorizedKeysPath: keys.authorizedKeysPath },
    },
  });
}

const fmt = (n: number, width = 9) => Math.round(n).toLocaleString('en-US').padStart(width);
const ratio = (a: number, b: number | undefined) =>
  (b === undefined ? '–' : `${(a / b).toFixed(1)}x`).padStart(6);

function printTable(rows: Row[], rpyc: RpycResult[]): void {
  const peers = rpyc.flatMap((r) => ('skipped' in r ? [] : [r]));
  const plain = peers.find((r) => r.mode === 'plain');
  const ssl = peers.find((r) => r.mode === 'ssl');
  const pair = (a: string, b: string) => `${a} /${b}`.padStart(17);
  console.log(
    `\n${'variant'.padEnd(36)}${'sequential'.padStart(11)}${'100 in flight'.padStart(14)}` +
      `${'CPU µs/call'.padStart(17)}${'x RPyC plain'.padStart(17)}${'x RPyC SSL'.padStart(17)}`,
  );
  console.log(
    `${''.padEnd(36)}${'calls/s'.padStart(11)}${'calls/s'.padStart(14)}` +
      `${'seq / 100'.padStart(17)}${'seq / 100'.padStart(17)}${'seq / 100'.padStart(17)}`,
  );
  for (const row of rows) {
    const s = row.sequential;
    const f = row.inflight100;
    console.log(
      `${row.name.padEnd(36)}${fmt(s.callsPerSecond, 11)}${fmt(f.callsPerSecond, 14)}` +
        pair(s.cpuMicrosPerCall.toFixed(1).padStart(6), f.cpuMicrosPerCall.toFixed(1).padStart(6)) +
        pair(
          ratio(s.callsPerSecond, plain?.sequential),
          ratio(f.callsPerSecond, plain?.inflight100),
        ) +
        pair(ratio(s.callsPerSecond, ssl?.sequential), ratio(f.callsPerSecond, ssl?.inflight100)),
    );
  }
  for (const peer of peers) {
    console.log(
      `${`${peer.peer}, same process`.padEnd(36)}${fmt(peer.sequential, 11)}${fmt(peer.inflight100, 14)}`,
    );
  }
  for (const r of rpyc) {
    if ('skipped' in r) console.log(`RPyC ${r.mode} column skipped: ${r.skipped}`);
  }
  console.log(
    '\nTargets (docs/design.md §6): sequential >= 10x RPyC; 100 in flight >= 100,000 calls/s; ' +
      'CPU <= 10 µs/call.',
  );
}

async function main(): Promise<void> {
  console.log(
    `keyway server calls: add(a, b) over public-key-authenticated Noise XX on 127.0.0.1, ` +
      `${SECONDS} s per window, Node ${process.version}`,
  );
  console.log('(CPU per call counts both ends; the pool row counts its worker threads too)');
  const report = new BenchReport('server-calls', 5);
  const keys = makeBenchKeys();
  const rows: Row[] = [];
  try {
    const variants: [string, (k: BenchKeys) => Server | Promise<Server>][] = [
      ['ThreadedServer', threaded],
      ['ThreadPoolServer ×2', pool],
    ];
    for (const [name, make] of variants) {
      const server = await make(keys);
      const port = await portOf(server);
      try {
        report.step(`${name}, client in this process`);
        rows.push({ name: `${name}, same process`, ...(await clientHere(keys, port)) });
        report.step(`${name}, client in a child process`);
        rows.push({ name: `${name}, client process`, ...(await clientInChild(keys, port)) });
      } finally {
        await server.close(1000);
      }
    }
  } finally {
    keys.cleanup();
  }
  report.step('RPyC 5.3, plain and SSL');
  const rpyc = await runRpyc(['plain', 'ssl'], SECONDS);
  printTable(rows, rpyc);
  report.record('keyway', rows);
  report.record('rpyc', rpyc);
  report.save();
}

await main();
