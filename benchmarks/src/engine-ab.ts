/**
 * Head-to-head of two builds of the RPC engine (docs/design.md §6 "Targets": CPU per call
 * at 1,000 calls in flight): this checkout and a peer checkout (another branch, built),
 * each over an in-memory transport pair and over an encrypted connection to a
 * ThreadedServer (public-key login, Noise XX on 127.0.0.1), both ends in this process, so
 * the CPU per call counts both ends. Rounds interleave the builds (the order flips each
 * round); the table gives medians and the median of the per-round ratios. Asserts nothing.
 *
 * Run: `node dist/engine-ab.js --peer /path/to/other/checkout [--rounds 9] [--calls 200000]`
 * Without `--peer` only this checkout is measured. `--width` sets the calls in flight
 * (default 1000). Results go to `results/engine-ab.json`.
 */
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { BenchReport } from './report.js';

type Add = (a: number, b: number) => PromiseLike<number>;

interface Build {
  name: string;
  root: string;
  kinds: Map<string, { add: Add; close: () => Promise<void> }>;
}

const { values } = parseArgs({
  options: {
    peer: { type: 'string' },
    rounds: { type: 'string', default: '9' },
    calls: { type: 'string', default: '200000' },
    width: { type: 'string', default: '1000' },
    only: { type: 'string', default: 'memory,server' },
  },
});
const ROUNDS = Number(values.rounds);
const CALLS = Number(values.calls);
const WIDTH = Number(values.width);
const KINDS = values.only.split(',');
const HERE = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..');

async function load(root: string, what: string): Promise<Record<string, unknown>> {
  return (await import(
    pathToFileURL(resolve(root, 'packages', what, 'dist', 'index.js')).href
  )) as Record<string, unknown>;
}

// biome-ignore lint/suspicious/noExplicitAny: modules of two builds loaded by path.
type Loose = any;

async function open(name: string, root: string): Promise<Build> {
  const core: Loose = await load(root, 'core');
  const secure: Loose = await load(root, 'secure');
  const server: Loose = await load(root, 'server');
  class Calculator extends core.Service {
    add(a: number, b: number): number {
      return a + b;
    }
  }
  const kinds: Build['kinds'] = new Map();
  if (KINDS.includes('memory')) {
    const [a, b] = core.memoryTransportPair();
    const [srv, client] = await Promise.all([
      core.connectTransport(a, { service: Calculator }),
      core.connectTransport(b),
    ]);
    const calc = client.root;
    kinds.set('memory', {
      add: (x, y) => calc.add(x, y),
      close: async () => {
        await client.close();
        await srv.closed;
      },
    });
  }
  if (KINDS.includes('server')) {
    const host = secure.generateIdentity('bench-host');
    const me = secure.generateIdentity('bench-client');
    const listening = new server.ThreadedServer(Calculator, {
      authenticator: secure.publicKeyAuth({
        identity: host,
        authorizedKeys: secure.AuthorizedKeys.parse(`${me.publicKeyLine()}\n`),
      }),
    });
    const address = await listening.listen();
    const knownHosts = secure.KnownHosts.parse('');
    knownHosts.add('127.0.0.1', address.port, host.publicKey);
    const conn = await server.connect('127.0.0.1', address.port, { identity: me, knownHosts });
    const calc = conn.root;
    kinds.set('server', {
      add: (x, y) => calc.add(x, y),
      close: async () => {
        await conn.close();
        await listening.close(1000);
      },
    });
  }
  return { name, root, kinds };
}

async function inFlight(add: Add, calls: number, width: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < calls) {
      next++;
      await add(next, 1);
    }
  };
  const workers: Promise<void>[] = [];
  for (let i = 0; i < width; i++) workers.push(worker());
  await Promise.all(workers);
}

interface Sample {
  cpuMicrosPerCall: number;
  callsPerSecond: number;
}

async function sample(add: Add): Promise<Sample> {
  await inFlight(add, Math.min(20_000, CALLS), WIDTH);
  const cpu = process.cpuUsage();
  const start = performance.now();
  await inFlight(add, CALLS, WIDTH);
  const seconds = (performance.now() - start) / 1000;
  const used = process.cpuUsage(cpu);
  return { cpuMicrosPerCall: (used.user + used.system) / CALLS, callsPerSecond: CALLS / seconds };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

async function main(): Promise<void> {
  const builds = [await open('this', HERE)];
  if (values.peer !== undefined) builds.push(await open('peer', resolve(values.peer)));
  const report = new BenchReport('engine-ab', ROUNDS);
  console.log(
    `engine A/B: ${CALLS} calls of add(a, b), ${WIDTH} in flight, ${ROUNDS} rounds, ` +
      `Node ${process.version}`,
  );
  for (const b of builds) console.log(`  ${b.name}: ${b.root}`);
  const samples: Record<string, Record<string, Sample[]>> = {};
  for (const b of builds) {
    samples[b.name] = {};
    for (const kind of b.kinds.keys()) samples[b.name]![kind] = [];
  }
  for (let round = 0; round < ROUNDS; round++) {
    report.step(`round ${round + 1}`);
    const order = round % 2 === 0 ? builds : [...builds].reverse();
    for (const kind of KINDS) {
      for (const b of order) {
        const target = b.kinds.get(kind);
        if (target !== undefined) samples[b.name]![kind]!.push(await sample(target.add));
      }
    }
  }
  const results: Record<string, unknown> = {};
  console.log(
    `\n${'transport'.padEnd(10)}${'build'.padEnd(8)}${'CPU µs/call'.padStart(13)}` +
      `${'calls/s'.padStart(12)}${'CPU ratio this/peer'.padStart(22)}${'rate ratio'.padStart(12)}`,
  );
  for (const kind of KINDS) {
    const mine = samples.this?.[kind] ?? [];
    const peer = samples.peer?.[kind];
    for (const b of builds) {
      const s = samples[b.name]![kind]!;
      let cpuRatio = '';
      let rateRatio = '';
      if (b.name === 'this' && peer !== undefined) {
        cpuRatio = `${median(mine.map((m, i) => m.cpuMicrosPerCall / peer[i]!.cpuMicrosPerCall)).toFixed(2)}x`;
        rateRatio = `${median(mine.map((m, i) => m.callsPerSecond / peer[i]!.callsPerSecond)).toFixed(2)}x`;
      }
      console.log(
        `${kind.padEnd(10)}${b.name.padEnd(8)}` +
          `${median(s.map((x) => x.cpuMicrosPerCall))
            .toFixed(2)
            .padStart(13)}` +
          `${Math.round(median(s.map((x) => x.callsPerSecond)))
            .toLocaleString('en-US')
            .padStart(12)}` +
          `${cpuRatio.padStart(22)}${rateRatio.padStart(12)}`,
      );
    }
    results[kind] = Object.fromEntries(builds.map((b) => [b.name, samples[b.name]![kind]]));
  }
  report.record('calls', CALLS);
  report.record('width', WIDTH);
  report.record('rounds', results);
  report.save();
  for (const b of builds) for (const k of b.kinds.values()) await k.close();
}

await main();
