/**
 * `keyway bench`: the encrypted channel's throughput and keyway's call rates beside
 * node:tls and plain TCP, measured in one run the way the README's numbers were measured
 * (the far end of every measurement in a worker thread, so each end has a core), in
 * interleaved rounds whose median and range are reported. Progress goes to stderr; the
 * table (or, with `--json`, the JSON) to stdout; `--out FILE.json` writes the JSON and an
 * SVG chart beside it, `--svg FILE` the chart alone.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { dirname, resolve } from 'node:path';
import { flagOption, parseOptions, stringOption, UsageError } from '../args.js';
import { renderChart } from '../bench-chart.js';
import { type CallRates, keywayCallRates, tcpCallRates, tlsCallRates } from '../calls.js';
import type { CliIo } from '../cli.js';
import { EXIT_OK } from '../command.js';
import { measureThroughput, selfSigned } from '../throughput.js';

export const BENCH_USAGE = `usage: keyway bench [--seconds n] [--rounds n] [--json] [--out FILE.json] [--svg FILE]

Measures keyway's encrypted channel (MB/s) and call rates (calls/s, sequential and 100 in
flight) beside node:tls and plain TCP on loopback, in one run. The far end of every
measurement runs in a worker thread, so each end has a core; the measurements are
interleaved round by round and the median and the range over the rounds are reported.
Other programs running meanwhile lower the numbers: compare the ratios.

options:
      --seconds <n>   time per measurement (default 1.5; up to 60)
      --rounds <n>    rounds of every measurement (default 3; up to 20)
      --json          print the results as JSON instead of the table
      --out <file>    also write the JSON to <file> and the chart beside it (.svg)
      --svg <file>    write the chart (SVG) to <file>
  -h, --help          show this help
`;

const OPTIONS = {
  seconds: { type: 'string' },
  rounds: { type: 'string' },
  json: { type: 'boolean' },
  out: { type: 'string' },
  svg: { type: 'string' },
} as const;

/** A median and the range over the rounds. */
export interface Spread {
  median: number;
  min: number;
  max: number;
}

/** Everything `keyway bench --json` prints. */
export interface BenchReport {
  /** Medians, for a quick look (the same as `.median` in the spreads). */
  throughputMBps: { keyway: number; tls: number | null; tcp: number };
  callsPerSecond: {
    keyway: { sequential: number; inFlight100: number };
    tls: { sequential: number; inFlight100: number } | null;
    tcp: { sequential: number; inFlight100: number };
  };
  /** Median and range over the rounds, by measurement and transport. */
  spread: Record<string, Record<string, Spread>>;
  /** keyway's median over each peer's. */
  ratios: Record<string, number | null>;
  seconds: number;
  rounds: number;
  method: string;
  machine: { node: string; cpus: number; cpuModel: string; loadAverage: number[] };
  date: string;
}

const METHOD =
  'loopback; the far end of every measurement in a worker thread; channel: full 65,518-byte ' +
  'frames, at most 128 KiB queued ahead of the kernel, rate counted by the receiver; calls: ' +
  'add(a, b) over a public-key authenticated connection to a ThreadedServer, beside a bare ' +
  '16-byte echo (100 in flight: one write of 100 requests); medians of interleaved rounds';

function positive(
  text: string | undefined,
  name: string,
  fallback: number,
  max: number,
  integer: boolean,
): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (
    !/^[0-9]+(\.[0-9]+)?$/.test(text) ||
    !(value > 0) ||
    value > max ||
    (integer && !Number.isInteger(value))
  ) {
    throw new UsageError(
      `--${name} must be ${integer ? 'an integer' : 'a number'} in (0, ${max}], got '${text}'`,
    );
  }
  return value;
}

function spreadOf(values: readonly number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]! };
}

/** Writes the progress line: a bar on a terminal, one line per step otherwise. */
function progress(io: CliIo, done: number, total: number, label: string): void {
  const width = 24;
  const filled = Math.round((done / total) * width);
  const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${label}`;
  if (process.stderr.isTTY) io.err(`\r${bar.padEnd(72)}${done === total ? '\n' : ''}`);
  else io.err(`${bar}\n`);
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const range = (s: Spread) => `${fmt(s.min)}–${fmt(s.max)}`;
const times = (a: number, b: number | undefined) => (b === undefined || b === 0 ? null : a / b);
const showRatio = (r: number | null) => (r === null ? '' : `${r.toFixed(2)}x`);

/** The table and the notes that explain its columns. */
function table(report: BenchReport, names: Record<string, string>): string {
  const s = report.spread;
  const lines: string[] = [];
  lines.push(
    '',
    `Encrypted channel throughput, MB/s (median of ${report.rounds} rounds of ${report.seconds} s)`,
    `  ${'transport'.padEnd(38)} ${'MB/s'.padStart(7)}  ${'range'.padEnd(13)} keyway / this`,
  );
  for (const t of ['keyway', 'tls', 'tcp']) {
    const x = s.throughput?.[t];
    if (!x) continue;
    const r = t === 'keyway' ? '' : showRatio(report.ratios[`throughput.keyway/${t}`] ?? null);
    lines.push(
      `  ${names[`throughput.${t}`]!.padEnd(38)} ${fmt(x.median).padStart(7)}  ${range(x).padEnd(13)} ${r}`,
    );
  }
  lines.push(
    '',
    'Round trips, calls/s (median; range)',
    `  ${'what'.padEnd(32)} ${'sequential'.padStart(10)}  ${'range'.padEnd(15)} ${'100 in flight'.padStart(13)}  ${'range'.padEnd(17)} keyway / this`,
  );
  for (const t of ['keyway', 'tls', 'tcp']) {
    const seq = s.sequential?.[t];
    const par = s.inFlight100?.[t];
    if (!seq || !par) continue;
    const r =
      t === 'keyway'
        ? ''
        : `${showRatio(report.ratios[`sequential.keyway/${t}`] ?? null)} / ${showRatio(report.ratios[`inFlight100.keyway/${t}`] ?? null)}`;
    lines.push(
      `  ${names[`calls.${t}`]!.padEnd(32)} ${fmt(seq.median).padStart(10)}  ${range(seq).padEnd(15)} ${fmt(par.median).padStart(13)}  ${range(par).padEnd(17)} ${r}`,
    );
  }
  lines.push(
    '',
    'Columns:',
    '  MB/s           payload megabytes (10^6 bytes) per second, counted by the receiving end',
    '  sequential     one call at a time: each waits for the previous reply (latency-bound)',
    '  100 in flight  batches of 100 calls sent together, the next batch once all are answered',
    '  range          lowest and highest of the rounds; a wide range means a busy machine',
    '  keyway / this  keyway’s median divided by this row’s (1.00x = as fast; for calls,',
    '                 sequential / 100 in flight)',
    'The bare echo rows are no RPC at all: 16 bytes out, 16 bytes back, the floor any RPC',
    'over that transport pays. keyway rows are authenticated (Ed25519) and encrypted.',
  );
  return `${lines.join('\n')}\n`;
}

/** Writes `text` to `path`, making its directory first. */
async function writeText(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, text);
}

/** Runs the benchmark. @returns the exit code */
export async function bench(args: string[], io: CliIo): Promise<number> {
  const parsed = parseOptions(args, OPTIONS, [0, 0]);
  const seconds = positive(stringOption(parsed, 'seconds'), 'seconds', 1.5, 60, false);
  const rounds = positive(stringOption(parsed, 'rounds'), 'rounds', 3, 20, true);
  const json = flagOption(parsed, 'json');
  const out = stringOption(parsed, 'out');
  const svgOption = stringOption(parsed, 'svg');
  const svgPath =
    svgOption !== undefined
      ? resolve(svgOption)
      : out !== undefined
        ? resolve(`${resolve(out).replace(/\.json$/i, '')}.svg`)
        : undefined;
  const budget = seconds * 1000;
  const pem = selfSigned();
  const names: Record<string, string> = {};
  const samples: Record<string, Record<string, number[]>> = {
    throughput: {},
    sequential: {},
    inFlight100: {},
  };
  const add = (kind: string, t: string, value: number) => {
    samples[kind]![t] ??= [];
    samples[kind]![t]!.push(value);
  };
  const transports =
    pem === undefined ? (['keyway', 'tcp'] as const) : (['keyway', 'tls', 'tcp'] as const);
  const steps: [string, () => Promise<void>][] = [];
  for (let round = 1; round <= rounds; round++) {
    for (const t of transports) {
      steps.push([
        `round ${round}: ${t} channel`,
        async () => {
          const r = await measureThroughput(t, budget, t === 'tls' ? pem : undefined);
          names[`throughput.${t}`] = r.name;
          add('throughput', t, r.mbPerSecond);
        },
      ]);
    }
    for (const t of transports) {
      steps.push([
        `round ${round}: ${t} calls`,
        async () => {
          const r: CallRates =
            t === 'keyway'
              ? await keywayCallRates(budget)
              : t === 'tls'
                ? await tlsCallRates(budget, pem!)
                : await tcpCallRates(budget);
          names[`calls.${t}`] = r.name;
          add('sequential', t, r.sequential);
          add('inFlight100', t, r.inFlight100);
        },
      ]);
    }
  }
  for (const [i, [label, step]] of steps.entries()) {
    progress(io, i, steps.length, label);
    await step();
  }
  progress(io, steps.length, steps.length, 'done');

  const spread: BenchReport['spread'] = {};
  for (const [kind, byTransport] of Object.entries(samples)) {
    spread[kind] = {};
    for (const [t, values] of Object.entries(byTransport)) spread[kind]![t] = spreadOf(values);
  }
  const median = (kind: string, t: string) => spread[kind]?.[t]?.median;
  const ratios: Record<string, number | null> = {};
  for (const kind of ['throughput', 'sequential', 'inFlight100']) {
    for (const peer of ['tls', 'tcp']) {
      ratios[`${kind}.keyway/${peer}`] = times(median(kind, 'keyway')!, median(kind, peer));
    }
  }
  const calls = (t: string) => ({
    sequential: median('sequential', t)!,
    inFlight100: median('inFlight100', t)!,
  });
  const report: BenchReport = {
    throughputMBps: {
      keyway: median('throughput', 'keyway')!,
      tls: median('throughput', 'tls') ?? null,
      tcp: median('throughput', 'tcp')!,
    },
    callsPerSecond: {
      keyway: calls('keyway'),
      tls: pem === undefined ? null : calls('tls'),
      tcp: calls('tcp'),
    },
    spread,
    ratios,
    seconds,
    rounds,
    method: METHOD,
    machine: {
      node: process.version,
      cpus: availableParallelism(),
      cpuModel: cpus()[0]?.model ?? 'unknown',
      loadAverage: loadavg().map((l) => Math.round(l * 100) / 100),
    },
    date: new Date().toISOString(),
  };
  const jsonText = `${JSON.stringify(report, null, 2)}\n`;
  if (json) io.out(jsonText);
  else io.out(table(report, names));
  if (pem === undefined)
    io.err('(node:tls skipped: the openssl command is needed to make its certificate)\n');
  if (out !== undefined) {
    await writeText(resolve(out), jsonText);
    io.err(`wrote ${resolve(out)}\n`);
  }
  if (svgPath !== undefined) {
    const bars = (kind: string, prefix: string) =>
      transports.map((t) => ({ label: names[`${prefix}.${t}`]!, ...spread[kind]![t]! }));
    const svg = renderChart(
      'keyway bench: keyway beside node:tls and plain TCP, loopback',
      [
        {
          title: 'Encrypted channel throughput',
          unit: 'MB/s',
          bars: bars('throughput', 'throughput'),
        },
        { title: 'Sequential round trips', unit: 'calls/s', bars: bars('sequential', 'calls') },
        { title: '100 calls in flight', unit: 'calls/s', bars: bars('inFlight100', 'calls') },
      ],
      `median of ${rounds} rounds of ${seconds} s, whiskers: range; Node ${process.version}, ` +
        `${availableParallelism()} cores, load ${report.machine.loadAverage.join(' ')}; ${report.date}`,
    );
    await writeText(svgPath, svg);
    io.err(`wrote ${svgPath}\n`);
  }
  return EXIT_OK;
}
