/**
 * `keyway bench [--json] [--seconds n]`: channel throughput and call rates of keyway,
 * measured in one run beside node:tls and plain TCP, with a progress bar, printed as a
 * table of MB/s, calls/s and ratios (or JSON). Both ends run in this process; the fuller
 * benchmarks (worker-thread receivers, RPyC, OPAQUE) are in the repository's benchmarks/.
 */
import { parseArgs } from 'node:util';
import { type CallRates, keywayCallRates, tcpCallRates, tlsCallRates } from '../calls.js';
import type { CliIo } from '../cli.js';
import { EXIT_OK, EXIT_USAGE } from '../cli.js';
import { measureKeyway, measureTcp, measureTls, type ThroughputResult } from '../throughput.js';

export const BENCH_USAGE = `usage: keyway bench [--json] [--seconds n]

Measures keyway's encrypted channel (MB/s) and call rates (calls/s, sequential and 100 in
flight) beside node:tls and plain TCP on loopback, in one run.
  --json        print the results as JSON
  --seconds n   time per measurement (default 1.5)
`;

function progress(io: CliIo, done: number, total: number, label: string, json: boolean): void {
  if (json) return;
  const width = 24;
  const filled = Math.round((done / total) * width);
  const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${label}`;
  if (process.stderr.isTTY) io.err(`\r${bar.padEnd(72)}${done === total ? '\n' : ''}`);
  else io.err(`${bar}\n`);
}

/** Runs the benchmark. @returns the exit code */
export async function bench(args: string[], io: CliIo): Promise<number> {
  let values: { json?: boolean; seconds?: string };
  try {
    values = parseArgs({
      args,
      strict: true,
      options: { json: { type: 'boolean' }, seconds: { type: 'string' } },
    }).values as typeof values;
  } catch (error) {
    io.err(`keyway bench: ${(error as Error).message}\n\n${BENCH_USAGE}`);
    return EXIT_USAGE;
  }
  const seconds = values.seconds === undefined ? 1.5 : Number(values.seconds);
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 60) {
    io.err(`keyway bench: --seconds must be a number in (0, 60]\n\n${BENCH_USAGE}`);
    return EXIT_USAGE;
  }
  const budget = seconds * 1000;
  const json = values.json === true;
  const steps: [string, () => Promise<unknown>][] = [
    ['keyway channel', () => measureKeyway(budget)],
    ['node:tls stream', () => measureTls(budget)],
    ['plain TCP stream', () => measureTcp(budget)],
    ['keyway calls', () => keywayCallRates(budget)],
    ['node:tls echo', () => tlsCallRates(budget)],
    ['plain TCP echo', () => tcpCallRates(budget)],
  ];
  const results: unknown[] = [];
  for (const [i, [label, run]] of steps.entries()) {
    progress(io, i, steps.length, label, json);
    results.push(await run());
  }
  progress(io, steps.length, steps.length, 'done', json);
  const [keyway, tlsStream, tcpStream] = results.slice(0, 3) as [
    ThroughputResult,
    ThroughputResult | undefined,
    ThroughputResult,
  ];
  const [calls, tlsCalls, tcpCalls] = results.slice(3) as [
    CallRates,
    CallRates | undefined,
    CallRates,
  ];
  if (json) {
    io.out(
      `${JSON.stringify(
        {
          throughputMBps: {
            keyway: keyway.mbPerSecond,
            tls: tlsStream?.mbPerSecond ?? null,
            tcp: tcpStream.mbPerSecond,
          },
          callsPerSecond: { keyway: calls, tls: tlsCalls ?? null, tcp: tcpCalls },
          seconds,
        },
        null,
        2,
      )}\n`,
    );
    return EXIT_OK;
  }
  const ratio = (a: number, b: number | undefined) =>
    b === undefined ? '   -  ' : `${(a / b).toFixed(2)}x`;
  io.out('\nChannel throughput, 64 KiB messages (MB/s)        keyway is\n');
  io.out(`  ${keyway.name.padEnd(36)} ${keyway.mbPerSecond.toFixed(0).padStart(7)}\n`);
  for (const peer of [tlsStream, tcpStream]) {
    if (!peer) continue;
    io.out(
      `  ${peer.name.padEnd(36)} ${peer.mbPerSecond.toFixed(0).padStart(7)}   ${ratio(keyway.mbPerSecond, peer.mbPerSecond)} of this\n`,
    );
  }
  io.out(
    '\nRound trips (calls/s)               sequential   100 in flight   keyway is (seq / 100)\n',
  );
  for (const row of [calls, tlsCalls, tcpCalls]) {
    if (!row) continue;
    const vs =
      row === calls
        ? ''
        : `${ratio(calls.sequential, row.sequential)} / ${ratio(calls.inFlight100, row.inFlight100)} of this`;
    io.out(
      `  ${row.name.padEnd(32)} ${row.sequential.toFixed(0).padStart(10)}   ${row.inFlight100.toFixed(0).padStart(13)}   ${vs}\n`,
    );
  }
  if (!tlsStream)
    io.out('\n(node:tls skipped: the openssl command is needed to make its certificate)\n');
  return EXIT_OK;
}
