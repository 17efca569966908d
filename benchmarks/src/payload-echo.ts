/**
 * Payload benchmark: what keyway's message layer costs per byte and per message, beside
 * peers measured in the same run. Each server runs in a process of its own
 * (`payload-server.ts`, RPyC's in Python); the clients of the Node variants run here,
 * RPyC's in a Python process (`rpyc/rpyc_echo.py`).
 *
 * Variants: plain TCP and node:tls 1.3 (length-prefixed echo), RPyC 5.3 (Debian's
 * python3-rpyc; skipped with a reason when missing), keyway over its authenticated
 * encrypted channel (ThreadedServer + publicKeyAuth) and keyway core over plain TCP.
 * Cells: echo of a 64 KiB, 1 MiB and 16 MiB Uint8Array (MiB/s each way), trivial calls
 * sequentially and with 100 and 1000 in flight (calls/s), CPU µs per operation of both
 * processes. Rounds are interleaved (every cell of every variant once per round) and
 * medians printed, with the ratios the targets are stated in. Writes JSON and an SVG
 * chart of MiB/s by payload size.
 *
 * Run: `pnpm --filter @keyway/benchmarks build && pnpm --filter @keyway/benchmarks bench:payload`
 * Options: --rounds N (3), --seconds S per cell (2), --json FILE
 * (results/payload-echo.json), --only tcp,tls,rpyc,keyway,keyway-plain,
 * --cells echo-64k,echo-1m,echo-16m,calls-1,calls-100,calls-1000,
 * --cpu-prof DIR (run the server processes with `node --cpu-prof` into DIR).
 */
import { type ChildProcess, execFileSync, fork } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DEFAULT_CONNECTION_OPTIONS } from '@keyway/core';
import { selfSigned } from './channel-certs.js';
import { barChart } from './payload-chart.js';
import {
  type Cell,
  type CellResult,
  type Driver,
  nodeClient,
  rpycClient,
  rpycServer,
} from './payload-drivers.js';
import type { PayloadServerOptions, ServerReport } from './payload-server.js';
import { type BenchKeys, makeBenchKeys } from './server-keys.js';

const KIB = 1024;
const MIB = 1024 * 1024;
/**
 * Both keyway ends keep the default message limit (16 MiB plus 64 KiB for the envelope),
 * which a 16 MiB Uint8Array and the envelope of its call fit.
 */
const MAX_MESSAGE_BYTES = DEFAULT_CONNECTION_OPTIONS.maxMessageBytes;
const SERVER = fileURLToPath(new URL('./payload-server.js', import.meta.url));
const RPYC_SCRIPT = fileURLToPath(new URL('../rpyc/rpyc_echo.py', import.meta.url));
const PYTHON = process.env.RPYC_PYTHON ?? '/usr/bin/python3';

const VARIANTS = [
  { id: 'tcp', label: 'plain TCP' },
  { id: 'tls', label: 'node:tls 1.3' },
  { id: 'rpyc', label: 'RPyC 5.3' },
  { id: 'keyway', label: 'keyway (encrypted)' },
  { id: 'keyway-plain', label: 'keyway, no encryption' },
] as const;
type VariantId = (typeof VARIANTS)[number]['id'];

interface CellSpec {
  id: string;
  label: string;
  cell: Cell;
}

const CELLS: readonly CellSpec[] = [
  { id: 'echo-64k', label: 'echo 64 KiB, MiB/s each way', cell: { cell: 'echo', bytes: 64 * KIB } },
  { id: 'echo-1m', label: 'echo 1 MiB, MiB/s each way', cell: { cell: 'echo', bytes: MIB } },
  { id: 'echo-16m', label: 'echo 16 MiB, MiB/s each way', cell: { cell: 'echo', bytes: 16 * MIB } },
  { id: 'calls-1', label: 'trivial calls, sequential, /s', cell: { cell: 'calls', width: 1 } },
  {
    id: 'calls-100',
    label: 'trivial calls, 100 in flight, /s',
    cell: { cell: 'calls', width: 100 },
  },
  {
    id: 'calls-1000',
    label: 'trivial calls, 1000 in flight, /s',
    cell: { cell: 'calls', width: 1000 },
  },
];

/**
 * The slot for byte streams of 1 GiB: measured by `stream-throughput.ts` (bench:stream),
 * beside the channel's bulk throughput, not in this table of echoes.
 */
const STREAM_SLOT = {
  id: 'stream-1g',
  label: 'byte stream of 1 GiB, MiB/s',
  status: 'measured by stream-throughput.ts: pnpm --filter @keyway/benchmarks bench:stream',
} as const;

/** The median of one cell of one variant over the rounds. */
interface Summary {
  /** MiB/s each way for an echo, calls/s for calls. */
  rate: number;
  /** CPU µs per echo or call, client and server processes together. */
  cpuMicrosPerOp: number;
  clientCpuMicrosPerOp: number;
  serverCpuMicrosPerOp: number;
  rounds: number;
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

function rateOf(spec: CellSpec, r: CellResult): number {
  return spec.cell.cell === 'echo'
    ? (r.ops * spec.cell.bytes) / r.seconds / MIB
    : r.ops / r.seconds;
}

function summarize(spec: CellSpec, results: CellResult[]): Summary | undefined {
  if (results.length === 0) return undefined;
  return {
    rate: median(results.map((r) => rateOf(spec, r))),
    cpuMicrosPerOp: median(results.map((r) => (r.clientCpuMicros + r.serverCpuMicros) / r.ops)),
    clientCpuMicrosPerOp: median(results.map((r) => r.clientCpuMicros / r.ops)),
    serverCpuMicrosPerOp: median(results.map((r) => r.serverCpuMicros / r.ops)),
    rounds: results.length,
  };
}

function options() {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '3' },
      seconds: { type: 'string', default: '2' },
      json: { type: 'string' },
      only: { type: 'string' },
      cells: { type: 'string' },
      'cpu-prof': { type: 'string' },
    },
  });
  const rounds = Number(values.rounds);
  const seconds = Number(values.seconds);
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 50)
    throw new RangeError('--rounds must be an integer in 1..50');
  if (!(seconds > 0 && seconds <= 60)) throw new RangeError('--seconds must be in (0, 60]');
  const pick = <T extends { id: string }>(all: readonly T[], list: string | undefined): T[] => {
    if (list === undefined) return [...all];
    const ids = list.split(',');
    for (const id of ids)
      if (!all.some((x) => x.id === id)) throw new RangeError(`unknown name ${id}`);
    return all.filter((x) => ids.includes(x.id));
  };
  const json = resolve(
    values.json ?? fileURLToPath(new URL('../results/payload-echo.json', import.meta.url)),
  );
  return {
    rounds,
    seconds,
    json,
    variants: pick(VARIANTS, values.only),
    cells: pick(CELLS, values.cells),
    cpuProf: values['cpu-prof'] === undefined ? undefined : resolve(values['cpu-prof']),
  };
}

/** Forks the server of a Node variant; resolves once it listens. */
async function nodeServer(
  variant: VariantId,
  serverOptions: PayloadServerOptions,
  cpuProf: string | undefined,
): Promise<{ child: ChildProcess; port: number }> {
  const execArgv = cpuProf === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', cpuProf];
  const child = fork(SERVER, [variant, JSON.stringify(serverOptions)], {
    execArgv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const [report] = (await once(child, 'message')) as [ServerReport];
  if ('error' in report) throw new Error(`${variant} server: ${report.error}`);
  if (!('port' in report)) throw new Error(`${variant} server: no port`);
  return { child, port: report.port };
}

async function stopNodeServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = once(child, 'exit');
  child.send({ exit: true });
  const timer = setTimeout(() => child.kill(), 10_000);
  await exited;
  clearTimeout(timer);
}

/** Why RPyC cannot run here, or undefined when it can. */
function rpycMissing(): string | undefined {
  try {
    execFileSync(PYTHON, ['-c', 'import rpyc'], { stdio: 'ignore', timeout: 15_000 });
    return undefined;
  } catch {
    return `no rpyc for ${PYTHON}; install with: apt-get update && apt-get install -y python3-rpyc`;
  }
}

interface Opened {
  driver: Driver;
  stop: () => Promise<void>;
  peer?: string;
}

async function open(
  variant: VariantId,
  keys: BenchKeys,
  tls: { key: string; cert: string },
  cpuProf: string | undefined,
): Promise<Opened> {
  if (variant === 'rpyc') {
    const server = await rpycServer(PYTHON, RPYC_SCRIPT);
    try {
      const driver = await rpycClient(PYTHON, RPYC_SCRIPT, server.port);
      return { driver, stop: server.stop, peer: server.peer };
    } catch (error) {
      await server.stop();
      throw error;
    }
  }
  const { child, port } = await nodeServer(
    variant,
    {
      maxMessageBytes: MAX_MESSAGE_BYTES,
      // Each server gets only what it uses (the arguments show in `ps`).
      ...(variant === 'tls' ? { tls } : {}),
      ...(variant === 'keyway'
        ? { keys: { hostKeyPath: keys.hostKeyPath, authorizedKeysPath: keys.authorizedKeysPath } }
        : {}),
    },
    cpuProf,
  );
  try {
    const driver = await nodeClient(variant, port, child, {
      keys,
      maxMessageBytes: MAX_MESSAGE_BYTES,
    });
    return { driver, stop: () => stopNodeServer(child) };
  } catch (error) {
    await stopNodeServer(child);
    throw error;
  }
}

const fmt = (n: number | undefined, width: number, digits = 0): string =>
  (n === undefined
    ? '–'
    : n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
  ).padStart(width);

const ratio = (a: number | undefined, b: number | undefined): string =>
  a === undefined || b === undefined ? '–' : `${(a / b).toFixed(2)}x`;

type Table = Map<VariantId, Map<string, Summary | undefined>>;

function printTable(
  table: Table,
  variants: readonly { id: VariantId; label: string }[],
  cells: readonly CellSpec[],
): void {
  const col = 22;
  const head = 36;
  console.log(
    `\n${'median of the rounds'.padEnd(head)}${variants.map((v) => v.label.padStart(col)).join('')}`,
  );
  const get = (v: VariantId, c: string) => table.get(v)?.get(c);
  for (const spec of cells) {
    const digits = spec.cell.cell === 'echo' ? 1 : 0;
    console.log(
      `${spec.label.padEnd(head)}${variants.map((v) => fmt(get(v.id, spec.id)?.rate, col, digits)).join('')}`,
    );
  }
  for (const spec of cells) {
    const unit = spec.cell.cell === 'echo' ? 'CPU ms per echo' : 'CPU µs per call';
    const scale = spec.cell.cell === 'echo' ? 1e-3 : 1;
    console.log(
      `${`${unit}, ${spec.id}, both ends`.padEnd(head)}${variants
        .map((v) => {
          const s = get(v.id, spec.id);
          return fmt(s === undefined ? undefined : s.cpuMicrosPerOp * scale, col, 1);
        })
        .join('')}`,
    );
  }
  console.log(
    `${STREAM_SLOT.label.padEnd(head)}${variants.map(() => 'see bench:stream'.padStart(col)).join('')}`,
  );
  console.log(`  (${STREAM_SLOT.status})`);
}

/** The ratios the targets are stated in, for `keyway` and `keyway-plain`. */
function ratios(table: Table): Record<string, string> {
  const get = (v: VariantId, c: string) => table.get(v)?.get(c);
  const out: Record<string, string> = {};
  for (const k of ['keyway', 'keyway-plain'] as const) {
    for (const c of ['echo-64k', 'echo-1m', 'echo-16m']) {
      out[`${k} / node:tls, ${c}`] = ratio(get(k, c)?.rate, get('tls', c)?.rate);
      out[`${k} / RPyC, ${c}`] = ratio(get(k, c)?.rate, get('rpyc', c)?.rate);
    }
    for (const c of ['calls-1', 'calls-100', 'calls-1000']) {
      out[`${k} / TCP floor, ${c}`] = ratio(get(k, c)?.rate, get('tcp', c)?.rate);
      out[`${k} / RPyC, ${c}`] = ratio(get(k, c)?.rate, get('rpyc', c)?.rate);
    }
  }
  return out;
}

function printTargets(table: Table): void {
  const get = (v: VariantId, c: string) => table.get(v)?.get(c);
  const check = (ok: boolean | undefined) => (ok === undefined ? '–' : ok ? 'met' : 'NOT met');
  const r = (a: Summary | undefined, b: Summary | undefined) =>
    a === undefined || b === undefined ? undefined : a.rate / b.rate;
  console.log('\nTargets (ratios within this run), keyway (encrypted):');
  for (const c of ['echo-1m', 'echo-16m']) {
    const tls = r(get('keyway', c), get('tls', c));
    const rpyc = r(get('keyway', c), get('rpyc', c));
    console.log(
      `  ${c}: ${tls === undefined ? '–' : `${tls.toFixed(2)}x`} node:tls (>= 0.6x: ${check(tls === undefined ? undefined : tls >= 0.6)}), ` +
        `${rpyc === undefined ? '–' : `${rpyc.toFixed(2)}x`} RPyC (>= 4x: ${check(rpyc === undefined ? undefined : rpyc >= 4)})`,
    );
  }
  const seq = r(get('keyway', 'calls-1'), get('tcp', 'calls-1'));
  console.log(
    `  sequential calls: ${seq === undefined ? '–' : `${seq.toFixed(2)}x`} the TCP floor (>= 0.75x: ${check(seq === undefined ? undefined : seq >= 0.75)})`,
  );
  const cpu = get('keyway', 'calls-1')?.cpuMicrosPerOp;
  console.log(
    `  CPU per sequential trivial call, both ends: ${cpu === undefined ? '–' : `${cpu.toFixed(1)} µs`} (<= 70 µs: ${check(cpu === undefined ? undefined : cpu <= 70)})`,
  );
}

async function main(): Promise<void> {
  const opts = options();
  const load = loadavg();
  console.log(
    `keyway payload benchmark: Node ${process.version}, ${cpus().length} cores, load average ${load.map((l) => l.toFixed(2)).join(' ')}`,
  );
  console.log(
    `${opts.rounds} interleaved rounds, ${opts.seconds} s per cell after a short warm-up; each server in its own process, 127.0.0.1`,
  );
  console.log(
    `keyway runs with the default maxMessageBytes (${MAX_MESSAGE_BYTES.toLocaleString('en-US')} bytes: 16 MiB plus 64 KiB for the envelope)`,
  );
  console.log(
    'payloads are random bytes (RPyC compresses messages over 3,000 bytes with zlib; random bytes do not shrink)',
  );
  console.log(
    'every variant sets TCP_NODELAY on both ends (RPyC too: its default leaves Nagle on)',
  );
  if (opts.cpuProf !== undefined) {
    mkdirSync(opts.cpuProf, { recursive: true });
    console.log(`server processes write CPU profiles to ${opts.cpuProf}`);
  }

  const skipped = new Map<VariantId, string>();
  if (opts.variants.some((v) => v.id === 'rpyc')) {
    const missing = rpycMissing();
    if (missing !== undefined) skipped.set('rpyc', missing);
  }
  const keys = makeBenchKeys();
  const tls = selfSigned('127.0.0.1');
  const opened = new Map<VariantId, Opened>();
  const results = new Map<VariantId, Map<string, CellResult[]>>();
  const errors: string[] = [];
  try {
    for (const v of opts.variants) {
      if (skipped.has(v.id)) continue;
      try {
        const o = await open(v.id, keys, tls, opts.cpuProf);
        opened.set(v.id, o);
        if (o.peer !== undefined) console.log(`RPyC peer: ${o.peer} (${PYTHON})`);
      } catch (error) {
        skipped.set(v.id, `could not start: ${(error as Error).message}`);
      }
    }
    const active = opts.variants.filter((v) => opened.has(v.id));
    for (let round = 0; round < opts.rounds; round++) {
      const started = Date.now();
      for (const spec of opts.cells) {
        // Rotate the order each round so no variant always runs right after another.
        for (let i = 0; i < active.length; i++) {
          const v = active[(i + round) % active.length]!;
          try {
            const r = await opened.get(v.id)!.driver.run(spec.cell, opts.seconds);
            const byCell = results.get(v.id) ?? new Map<string, CellResult[]>();
            results.set(v.id, byCell);
            byCell.set(spec.id, [...(byCell.get(spec.id) ?? []), r]);
          } catch (error) {
            errors.push(`round ${round + 1}, ${v.id}, ${spec.id}: ${(error as Error).message}`);
          }
        }
      }
      console.log(
        `round ${round + 1}/${opts.rounds} done in ${((Date.now() - started) / 1000).toFixed(1)} s`,
      );
    }
  } finally {
    for (const o of opened.values()) {
      await o.driver.close().catch(() => {});
      await o.stop().catch(() => {});
    }
    keys.cleanup();
  }

  const table: Table = new Map();
  for (const v of opts.variants) {
    table.set(
      v.id,
      new Map(opts.cells.map((c) => [c.id, summarize(c, results.get(v.id)?.get(c.id) ?? [])])),
    );
  }
  printTable(table, opts.variants, opts.cells);
  for (const [id, why] of skipped) console.log(`${id} column skipped: ${why}`);
  for (const e of errors) console.log(`failed: ${e}`);
  const ratioTable = ratios(table);
  console.log('\nRatios (medians of this run):');
  for (const [name, value] of Object.entries(ratioTable))
    if (value !== '–') console.log(`  ${name.padEnd(44)} ${value}`);
  printTargets(table);

  const loadAfter = loadavg();
  const note = `Node ${process.version}, ${cpus().length} cores, load ${load[0]!.toFixed(1)}→${loadAfter[0]!.toFixed(1)}, ${opts.rounds} rounds × ${opts.seconds} s, medians`;
  mkdirSync(dirname(opts.json), { recursive: true });
  writeFileSync(
    opts.json,
    `${JSON.stringify(
      {
        date: new Date().toISOString(),
        node: process.version,
        cores: cpus().length,
        loadAverage: { before: load, after: loadAfter },
        rounds: opts.rounds,
        secondsPerCell: opts.seconds,
        maxMessageBytes: MAX_MESSAGE_BYTES,
        units: { echo: 'MiB/s each way', calls: 'calls/s', cpu: 'µs per operation, both ends' },
        variants: opts.variants.map((v) => ({ ...v, skipped: skipped.get(v.id) })),
        cells: Object.fromEntries(
          opts.cells.map((c) => [
            c.id,
            {
              label: c.label,
              ...c.cell,
              medians: Object.fromEntries(
                opts.variants.map((v) => [v.id, table.get(v.id)?.get(c.id) ?? null]),
              ),
              rounds: Object.fromEntries(
                opts.variants.map((v) => [v.id, results.get(v.id)?.get(c.id) ?? []]),
              ),
            },
          ]),
        ),
        [STREAM_SLOT.id]: { label: STREAM_SLOT.label, status: STREAM_SLOT.status },
        ratios: ratioTable,
        errors,
      },
      null,
      2,
    )}\n`,
  );
  const echoCells = opts.cells.filter((c) => c.cell.cell === 'echo');
  const svgPath = `${opts.json.replace(/\.json$/, '')}.svg`;
  if (echoCells.length > 0) {
    writeFileSync(
      svgPath,
      barChart(
        'Echo of a Uint8Array: MiB/s each way by payload size',
        echoCells.map((c) => c.id.replace('echo-', '').replace('k', ' KiB').replace('m', ' MiB')),
        opts.variants.map((v) => ({
          label: v.label,
          values: echoCells.map((c) => table.get(v.id)?.get(c.id)?.rate),
        })),
        note,
      ),
    );
  }
  console.log(`\nJSON: ${opts.json}${echoCells.length > 0 ? `\nSVG:  ${svgPath}` : ''}`);
}

await main();
