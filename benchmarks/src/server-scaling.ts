/**
 * Server scaling benchmark (docs/design.md §5 servers): the same service on a
 * ThreadedServer (one event loop), a ThreadPoolServer (sockets on the main thread, bytes
 * relayed to worker threads) and a ProcessPoolServer (worker processes that own their
 * sockets), under four workloads: a 5 ms CPU-bound call from 8 clients, trivial calls
 * back to back from 8 clients and from 1, and 100 calls in flight from 1. The clients run
 * in a child process. Variants are interleaved round by round, and each round's rate is
 * divided by ThreadedServer's in the same round; the medians of both are printed, then
 * the CPU time each call cost the server's processes and the client's, then one JSON line.
 *
 * The CPU time shows where a ratio comes from on a small machine, where the client shares
 * the cores with the server: the server's is this process's (ThreadedServer, the thread
 * pools and the process pool's primary live here, the idle ones costing nothing) plus, for
 * ProcessPoolServer, its workers' (read from /proc, so on Linux only); the client's is its
 * own. Both are taken over the timed window and divided by the calls made in it.
 *
 * Run: `pnpm --filter @keyway/benchmarks build && node benchmarks/dist/server-scaling.js`
 * Environment: BENCH_ROUNDS (default 5), BENCH_SECONDS per window (default 2),
 * BENCH_ONLY=threaded,pool2,... for a subset of variants.
 */
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { AuthorizedKeys, publicKeyAuth } from '@keyway/secure';
import {
  type BoundAddress,
  ProcessPoolServer,
  ThreadedServer,
  ThreadPoolServer,
} from '@keyway/server';
import Calculator from './server-fixtures/calculator.js';
import { type BenchKeys, makeBenchKeys } from './server-keys.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 2);
const ONLY = process.env.BENCH_ONLY?.split(',');
const CLIENT = fileURLToPath(new URL('./server-scaling-client.js', import.meta.url));
const SERVICE = new URL('./server-fixtures/calculator.js', import.meta.url);
const AUTH = new URL('./server-fixtures/key-auth.js', import.meta.url).href;

interface Server {
  listen(): Promise<BoundAddress>;
  close(graceMs?: number): Promise<void>;
  /** Worker processes serving (ProcessPoolServer), whose CPU time counts as the server's. */
  readonly workerPids?: number[];
}

/** What one run of a workload measured. */
interface Run {
  rate: number;
  /** CPU time per call in µs of the server's processes; undefined where unknown. */
  serverCpu: number | undefined;
  /** CPU time per call in µs of the client process. */
  clientCpu: number;
}

/** Clock ticks per second of /proc's CPU times (USER_HZ), asked once. */
const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/**
 * CPU time in µs of this process (every thread) and of the processes `pids`, or undefined
 * when a process's time cannot be read (no /proc).
 */
function cpuMicros(pids: readonly number[]): number | undefined {
  const own = process.cpuUsage();
  let total = own.user + own.system;
  for (const pid of pids) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      return undefined;
    }
    // Fields after the command's closing parenthesis: state is the 1st, utime the 12th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    total += ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLOCK_TICKS;
  }
  return total;
}

interface Workload {
  readonly name: string;
  readonly label: string;
  readonly connections: number;
}

const WORKLOADS: readonly Workload[] = [
  { name: 'cpu', label: '5 ms CPU-bound call × 8 clients', connections: 8 },
  { name: 'seq', label: 'trivial calls, sequential × 8 clients', connections: 8 },
  { name: 'seq', label: 'trivial calls, sequential × 1 client', connections: 1 },
  { name: 'inflight100', label: '100 in flight × 1 client', connections: 1 },
];

async function variants(keys: BenchKeys): Promise<[string, Server][]> {
  const authOptions = {
    hostKeyPath: keys.hostKeyPath,
    authorizedKeysPath: keys.authorizedKeysPath,
  };
  const limits = {
    maxStartups: { start: 64, rate: 30, full: 100 },
    maxUnauthenticatedPerSource: 64,
  };
  const all: [string, () => Promise<Server> | Server][] = [
    [
      'threaded',
      async () =>
        new ThreadedServer(Calculator, {
          ...limits,
          authenticator: publicKeyAuth({
            identity: keys.host,
            authorizedKeys: await AuthorizedKeys.load(keys.authorizedKeysPath),
          }),
        }),
    ],
    [
      'pool2',
      () =>
        new ThreadPoolServer(SERVICE, {
          ...limits,
          threads: 2,
          authenticator: { module: AUTH, options: authOptions },
        }),
    ],
    [
      'pool1',
      () =>
        new ThreadPoolServer(SERVICE, {
          ...limits,
          threads: 1,
          authenticator: { module: AUTH, options: authOptions },
        }),
    ],
    [
      'process2',
      () =>
        new ProcessPoolServer(SERVICE, {
          ...limits,
          workers: 2,
          authenticator: { module: AUTH, options: authOptions },
        }),
    ],
  ];
  const out: [string, Server][] = [];
  for (const [name, make] of all) {
    if (ONLY && name !== 'threaded' && !ONLY.includes(name)) continue;
    out.push([name, await make()]);
  }
  return out;
}

async function run(
  keys: BenchKeys,
  server: Server,
  port: number,
  workload: Workload,
): Promise<Run> {
  const knownHostsPath = await keys.knownHostsFor(port);
  const child = spawn(
    process.execPath,
    [
      CLIENT,
      String(port),
      keys.clientKeyPath,
      knownHostsPath,
      workload.name,
      String(workload.connections),
      String(SECONDS),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const limit = setTimeout(() => child.kill(), (SECONDS + 60) * 1000);
  let out = '';
  let cpuAtStart: number | undefined;
  let cpuAtEnd: number | undefined;
  const pids = server.workerPids ?? [];
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    // The window's edges, sampled as the client reports them.
    if (cpuAtStart === undefined && out.includes('"start"')) cpuAtStart = cpuMicros(pids);
    if (cpuAtEnd === undefined && out.includes('"calls"')) cpuAtEnd = cpuMicros(pids);
  });
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  clearTimeout(limit);
  if (code !== 0) throw new Error(`client failed (exit ${String(code)})`);
  const line = out.split('\n').find((l) => l.includes('"calls"'));
  if (line === undefined) throw new Error('the client reported no result');
  const {
    calls,
    seconds,
    cpuMicros: clientMicros,
  } = JSON.parse(line) as {
    calls: number;
    seconds: number;
    cpuMicros: number;
  };
  return {
    rate: calls / seconds,
    serverCpu:
      cpuAtStart === undefined || cpuAtEnd === undefined
        ? undefined
        : (cpuAtEnd - cpuAtStart) / calls,
    clientCpu: clientMicros / calls,
  };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

async function main(): Promise<void> {
  const load = loadavg();
  console.log(
    `keyway server scaling: ${ROUNDS} interleaved rounds of ${SECONDS} s, Node ${process.version}, ` +
      `load average ${load.map((l) => l.toFixed(1)).join(' ')} at start`,
  );
  const keys = makeBenchKeys();
  const servers = await variants(keys);
  const ports = new Map<string, number>();
  try {
    for (const [name, server] of servers) {
      const address = await server.listen();
      if (!('port' in address)) throw new Error('expected a TCP address');
      ports.set(name, address.port);
    }
    // rates[workload][variant] = calls/s per round; ratios likewise, against threaded;
    // CPU µs per call of the server's processes and of the client's.
    const rates = WORKLOADS.map(() => new Map<string, number[]>());
    const ratios = WORKLOADS.map(() => new Map<string, number[]>());
    const serverCpu = WORKLOADS.map(() => new Map<string, number[]>());
    const clientCpu = WORKLOADS.map(() => new Map<string, number[]>());
    const add = (table: Map<string, number[]>[], w: number, name: string, value: number) =>
      table[w]?.set(name, [...(table[w]?.get(name) ?? []), value]);
    for (let round = 0; round < ROUNDS; round++) {
      for (const [w, workload] of WORKLOADS.entries()) {
        const inRound = new Map<string, number>();
        for (const [name, server] of servers) {
          const measured = await run(keys, server, ports.get(name) as number, workload);
          inRound.set(name, measured.rate);
          add(rates, w, name, measured.rate);
          add(clientCpu, w, name, measured.clientCpu);
          if (measured.serverCpu !== undefined) add(serverCpu, w, name, measured.serverCpu);
        }
        const base = inRound.get('threaded') as number;
        for (const [name, rate] of inRound) {
          ratios[w]?.set(name, [...(ratios[w]?.get(name) ?? []), rate / base]);
        }
      }
      console.log(`round ${round + 1}/${ROUNDS} done, load average ${loadavg()[0]?.toFixed(1)}`);
    }
    const names = servers.map(([name]) => name);
    console.log(`\n| workload | ${names.join(' | ')} |`);
    console.log(`|---|${names.map(() => '---').join('|')}|`);
    const json: Record<
      string,
      Record<
        string,
        {
          callsPerSecond: number;
          ratio: number;
          serverCpuMicrosPerCall: number | undefined;
          clientCpuMicrosPerCall: number;
        }
      >
    > = {};
    for (const [w, workload] of WORKLOADS.entries()) {
      const cells = names.map((name) => {
        const rate = median(rates[w]?.get(name) ?? []);
        const ratio = median(ratios[w]?.get(name) ?? []);
        const server = serverCpu[w]?.get(name);
        json[workload.label] ??= {};
        (json[workload.label] as Record<string, unknown>)[name] = {
          callsPerSecond: rate,
          ratio,
          serverCpuMicrosPerCall: server === undefined ? undefined : median(server),
          clientCpuMicrosPerCall: median(clientCpu[w]?.get(name) ?? []),
        };
        const r = Math.round(rate).toLocaleString('en-US');
        return name === 'threaded' ? `${r}/s` : `${r}/s (${ratio.toFixed(2)}x)`;
      });
      console.log(`| ${workload.label} | ${cells.join(' | ')} |`);
    }
    console.log('\nCPU time per call, µs (medians): server processes + client process');
    console.log(`| workload | ${names.join(' | ')} |`);
    console.log(`|---|${names.map(() => '---').join('|')}|`);
    for (const [w, workload] of WORKLOADS.entries()) {
      const cells = names.map((name) => {
        const server = serverCpu[w]?.get(name);
        const client = median(clientCpu[w]?.get(name) ?? []);
        const s = server === undefined ? undefined : median(server);
        const digits = client >= 100 ? 0 : 1;
        return s === undefined
          ? `– + ${client.toFixed(digits)}`
          : `${s.toFixed(digits)} + ${client.toFixed(digits)} = ${(s + client).toFixed(digits)}`;
      });
      console.log(`| ${workload.label} | ${cells.join(' | ')} |`);
    }
    console.log(
      `\nload average at end ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}`,
    );
    console.log(JSON.stringify({ rounds: ROUNDS, seconds: SECONDS, load, results: json }));
  } finally {
    await Promise.all(servers.map(([, server]) => server.close(1000)));
    keys.cleanup();
  }
}

await main();
