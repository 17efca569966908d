/**
 * Idle connections benchmark (docs/design.md §6 "Targets": 10,000 idle authenticated
 * connections on one server, memory per connection reported). One ThreadedServer with
 * public-key auth (Ed25519, Noise XX) in this process; the clients in one child process
 * (`server-idle-client.ts`), which opens `--count` connections, `--concurrency` at a time.
 *
 * Why a child process: each connection is one socket on each side, so with both ends in
 * one process 10,000 connections need 20,000 descriptors (the limit here is 20,000, and
 * the process needs a few more), and the server's memory could not be told apart from
 * the clients'. In the child, the server process holds exactly one socket per connection.
 *
 * Measured: time to establish all (and the server's CPU meanwhile); the server's heap,
 * external and RSS per connection (after `gc()`, against a baseline taken after a
 * warm-up connection); the server's CPU while the connections sit idle; the latency of
 * 100 calls on connections picked at random; a call on every connection; memory after
 * every connection made a call, and after all closed (what was not given back). Prints
 * numbers; asserts nothing.
 *
 * The peer, measured the same way in the same run: a node:tls server with mutual TLS 1.3
 * (ECDSA P-256 certificates, the client's verified), its clients in a child process too
 * (`server-idle-tls-client.ts`), each connection having echoed one byte. Every measurement
 * runs in a fresh process (this script with `--only keyway` or `--only tls`), so that one
 * server's heap growth does not lend pages to the next; rounds alternate which goes
 * first. Printed: round 1 in full, then the medians per connection and the median of the
 * per-round ratios keyway / node:tls, and one JSON line (also written with the machine to
 * `benchmarks/results/server-idle.json`).
 *
 * Run: `pnpm build && pnpm --filter @keyway/benchmarks bench:idle [--count N]
 * [--concurrency C] [--rounds R]` (node needs `--expose-gc`; the script passes it to the
 * children).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createServer as createTlsServer, connect as tlsConnect } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Remote } from '@keyway/core';
import { AuthorizedKeys, KnownHosts, publicKeyAuth } from '@keyway/secure';
import { connect, DEFAULT_SERVER_LIMITS, ThreadedServer } from '@keyway/server';
import { selfSigned } from './channel-certs.js';
import { BenchReport } from './report.js';
import Calculator from './server-fixtures/calculator.js';
import { makeBenchKeys } from './server-keys.js';

const CLIENT = fileURLToPath(new URL('./server-idle-client.js', import.meta.url));
const TLS_CLIENT = fileURLToPath(new URL('./server-idle-tls-client.js', import.meta.url));
const SELF = fileURLToPath(import.meta.url);

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '10000' },
    concurrency: { type: 'string', default: '200' },
    rounds: { type: 'string', default: '1' },
    only: { type: 'string' },
  },
});
const COUNT = Number(values.count);
const CONCURRENCY = Number(values.concurrency);
const ROUNDS = Number(values.rounds);
if (!Number.isInteger(ROUNDS) || ROUNDS < 1 || ROUNDS > 20) {
  throw new RangeError(`--rounds must be an integer 1..20, got ${values.rounds}`);
}
if (values.only !== undefined && values.only !== 'keyway' && values.only !== 'tls') {
  throw new RangeError(`--only must be keyway or tls, got ${values.only}`);
}
if (!Number.isInteger(COUNT) || COUNT < 1 || COUNT > 50_000) {
  throw new RangeError(`--count must be an integer 1..50000, got ${values.count}`);
}
if (!Number.isInteger(CONCURRENCY) || CONCURRENCY < 1 || CONCURRENCY > 1000) {
  throw new RangeError(`--concurrency must be an integer 1..1000, got ${values.concurrency}`);
}
/** The whole run's bound: generous for the handshakes, then the child is killed. */
const RUN_LIMIT_MS = (120 + COUNT / 20) * 1000;

const gc = globalThis.gc;
if (gc === undefined) {
  console.error('run node with --expose-gc (the bench:idle script does)');
  process.exit(2);
}

interface Memory {
  heapUsed: number;
  heapTotal: number;
  external: number;
  rss: number;
}

async function settledMemory(): Promise<Memory> {
  // Let the last writes and closes finish, and collect twice: finalizers run between.
  await new Promise((resolve) => setTimeout(resolve, 200));
  gc?.();
  await new Promise((resolve) => setImmediate(resolve));
  gc?.();
  const m = process.memoryUsage();
  return { heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, rss: m.rss };
}

/** Waits until `test()` holds, polling, for at most `ms`; returns whether it held. */
async function waitFor(test: () => boolean, ms: number): Promise<boolean> {
  const deadline = performance.now() + ms;
  while (!test()) {
    if (performance.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return true;
}

const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
const cpuMs = (since: NodeJS.CpuUsage) => {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1000;
};

function perConnection(label: string, from: Memory, to: Memory, n: number): void {
  const row = (name: string, bytes: number) =>
    `${name} ${mib(bytes).padStart(10)} (${kib(bytes / n).padStart(10)} per connection)`;
  console.log(`${label}`);
  console.log(`  ${row('heap used ', to.heapUsed - from.heapUsed)}`);
  console.log(`  ${row('heap total', to.heapTotal - from.heapTotal)}`);
  console.log(`  ${row('external  ', to.external - from.external)}`);
  console.log(`  ${row('RSS       ', to.rss - from.rss)}`);
}

/** What one measurement reports to the orchestrating process, per connection in bytes. */
interface IdleResult {
  kind: 'keyway' | 'tls';
  connections: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  rss: number;
}

/** Prefix of the line a measurement's process reports its {@link IdleResult} on. */
const RESULT_PREFIX = 'RESULT ';

function idleResult(kind: IdleResult['kind'], from: Memory, to: Memory, n: number): IdleResult {
  return {
    kind,
    connections: n,
    heapUsed: (to.heapUsed - from.heapUsed) / n,
    heapTotal: (to.heapTotal - from.heapTotal) / n,
    external: (to.external - from.external) / n,
    rss: (to.rss - from.rss) / n,
  };
}

async function keywayMain(): Promise<void> {
  console.log(
    `keyway idle connections: ${COUNT.toLocaleString('en-US')} public-key-authenticated ` +
      `connections to one ThreadedServer, ${CONCURRENCY} opening at a time, clients in a ` +
      `child process, Node ${process.version}`,
  );
  const keys = makeBenchKeys();
  const server = new ThreadedServer(Calculator, {
    authenticator: publicKeyAuth({
      identity: keys.host,
      authorizedKeys: await AuthorizedKeys.load(keys.authorizedKeysPath),
    }),
    maxConnections: Math.max(DEFAULT_SERVER_LIMITS.maxConnections, COUNT),
    // Every client comes from 127.0.0.1; the defaults (16 per source, random early drop
    // from 10 authenticating) would refuse part of a batch.
    maxUnauthenticatedPerSource: CONCURRENCY,
    maxStartups: { start: CONCURRENCY, rate: 100, full: CONCURRENCY },
  });
  let authFailures = 0;
  let refused = 0;
  server.on('authFailure', () => authFailures++);
  server.on('refused', () => refused++);
  const bound = await server.listen();
  if (!('port' in bound)) throw new Error('expected a TCP address');
  const knownHostsPath = await keys.knownHostsFor(bound.port);

  // Warm-up: one connection from this process, so the baseline already holds the code
  // and one-time state of the handshake and the RPC engine.
  const warm = await connect('127.0.0.1', bound.port, {
    identity: keys.client,
    knownHosts: await KnownHosts.load(knownHostsPath),
  });
  await (warm.root as Remote<Calculator>).add(1, 2);
  await warm.close();
  await waitFor(() => server.connections.size === 0, 5000);
  const baseline = await settledMemory();

  let result: IdleResult | undefined;
  const child = spawn(
    process.execPath,
    [
      '--expose-gc',
      CLIENT,
      String(bound.port),
      keys.clientKeyPath,
      knownHostsPath,
      String(COUNT),
      String(CONCURRENCY),
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const limit = setTimeout(() => {
    console.error(`run limit of ${RUN_LIMIT_MS / 1000} s reached; killing the client`);
    child.kill();
  }, RUN_LIMIT_MS);
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const nextMessage = async (): Promise<Record<string, unknown>> => {
    for (;;) {
      const { value, done } = await lines.next();
      if (done) throw new Error('the client process ended early');
      const message = JSON.parse(value) as Record<string, unknown>;
      if ('progress' in message) console.log(`  ... ${String(message.progress)} open`);
      else return message;
    }
  };

  try {
    const openCpu = process.cpuUsage();
    const opened = await nextMessage();
    const openCpuMs = cpuMs(openCpu);
    const openMs = opened.ms as number;
    const n = opened.opened as number;
    await waitFor(() => server.connections.size >= n, 5000);
    const serving = server.connections.size;
    console.log(
      `\nopened ${n.toLocaleString('en-US')} of ${COUNT.toLocaleString('en-US')} in ` +
        `${(openMs / 1000).toFixed(1)} s (${Math.round((n / openMs) * 1000)} connections/s; ` +
        `server CPU ${(openCpuMs / n).toFixed(2)} ms per connection); failures ` +
        `${String(opened.failures)}, server auth failures ${authFailures}, refused ${refused}; ` +
        `server holds ${serving} connections, ${server.socketCount} sockets`,
    );
    for (const error of opened.firstErrors as string[]) console.log(`  client error: ${error}`);
    if (n === 0) return;

    const idle = await settledMemory();
    perConnection(
      `\nserver memory, ${n} idle connections, against the baseline:`,
      baseline,
      idle,
      n,
    );
    result = idleResult('keyway', baseline, idle, n);
    const clientBefore = opened.clientBefore as Memory;
    const clientAfter = opened.clientAfter as Memory;
    console.log(
      `client process: heap used ${kib((clientAfter.heapUsed - clientBefore.heapUsed) / n)}, ` +
        `RSS ${kib((clientAfter.rss - clientBefore.rss) / n)} per connection`,
    );

    // Three 1 s windows: the first may still hold work left from the opening (collection
    // of garbage, deferred housekeeping); the later ones show what idle connections cost.
    const idleWindows: string[] = [];
    for (let i = 0; i < 3; i++) {
      const idleCpu = process.cpuUsage();
      await new Promise((resolve) => setTimeout(resolve, 1000));
      idleWindows.push(cpuMs(idleCpu).toFixed(1));
    }
    console.log(`server CPU while idle, three 1 s windows: ${idleWindows.join(', ')} ms`);

    child.stdin.write('check\n');
    const checked = await nextMessage();
    console.log(
      `\n${String(checked.samples)} random connections called one at a time: p50 ` +
        `${(checked.sampleP50Ms as number).toFixed(2)} ms, p99 ` +
        `${(checked.sampleP99Ms as number).toFixed(2)} ms, max ` +
        `${(checked.sampleMaxMs as number).toFixed(2)} ms, failures ${String(checked.sampleFailures)}`,
    );
    console.log(
      `a call on every connection (${CONCURRENCY} at a time): ${String(checked.pinged)} in ` +
        `${((checked.pingAllMs as number) / 1000).toFixed(2)} s, failures ${String(checked.pingFailures)}`,
    );
    for (const error of checked.pingErrors as string[]) console.log(`  call error: ${error}`);
    const called = await settledMemory();
    perConnection(
      `\nserver memory after one call on each, against the baseline:`,
      baseline,
      called,
      n,
    );

    child.stdin.write('close\n');
    const closed = await nextMessage();
    const closeStart = performance.now();
    const drained = await waitFor(() => server.connections.size === 0, 30_000);
    const connectionsMs = performance.now() - closeStart;
    const socketsLeft = server.socketCount;
    const socketsGone = await waitFor(() => server.socketCount === 0, 30_000);
    const socketsMs = performance.now() - closeStart;
    console.log(
      `\nclosed ${String(closed.closed)} from the client in ` +
        `${((closed.ms as number) / 1000).toFixed(2)} s; the server's connections were all ` +
        `closed ${drained ? `within ${connectionsMs.toFixed(0)} ms` : 'NOT (after 30 s)'} ` +
        `(sockets still open then: ${socketsLeft}); its sockets all closed ` +
        `${socketsGone ? `within ${socketsMs.toFixed(0)} ms` : `NOT (${server.socketCount} after 30 s)`}`,
    );
    const after = await settledMemory();
    perConnection('server memory just after all closed, against the baseline:', baseline, after, n);
    // The secure channel ends a socket gracefully and destroys it after its close grace
    // (5 s by default) if the peer never ends its half; that timer holds the socket and what
    // hangs off it until then. Measure again once it has passed.
    await new Promise((resolve) => setTimeout(resolve, 6000));
    const later = await settledMemory();
    perConnection('server memory 6 s after all closed, against the baseline:', baseline, later, n);
  } finally {
    clearTimeout(limit);
    child.stdin.end();
    if (child.exitCode === null) await new Promise((resolve) => child.once('exit', resolve));
    await server.close(1000);
    keys.cleanup();
  }
  if (result !== undefined) console.log(`${RESULT_PREFIX}${JSON.stringify(result)}`);
}

/**
 * The peer: a node:tls server with mutual TLS 1.3, measured as {@link keywayMain} measures
 * keyway (baseline after one warm-up connection, memory after two collections).
 */
async function tlsMain(): Promise<void> {
  console.log(
    `node:tls idle connections: ${COUNT.toLocaleString('en-US')} mutual TLS 1.3 connections ` +
      `(ECDSA P-256) to one tls.Server, ${CONCURRENCY} opening at a time, clients in a child ` +
      `process, Node ${process.version}`,
  );
  const dir = mkdtempSync(join(tmpdir(), 'keyway-bench-'));
  const serverPem = selfSigned('localhost');
  const clientPem = selfSigned('client');
  writeFileSync(join(dir, 'server-cert.pem'), serverPem.cert, { mode: 0o600 });
  writeFileSync(join(dir, 'client-key.pem'), clientPem.key, { mode: 0o600 });
  writeFileSync(join(dir, 'client-cert.pem'), clientPem.cert, { mode: 0o600 });
  const server = createTlsServer({
    ...serverPem,
    minVersion: 'TLSv1.3',
    requestCert: true,
    rejectUnauthorized: true,
    ca: clientPem.cert,
  });
  let live = 0;
  server.on('secureConnection', (socket) => {
    socket.setNoDelay(true);
    live++;
    socket.on('error', () => {});
    // A server that answers, as keyway's does: each connection echoes what it reads.
    socket.on('data', (data) => socket.write(data));
    socket.on('end', () => socket.end());
    socket.on('close', () => live--);
  });
  server.on('tlsClientError', () => {});
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };

  const warm = tlsConnect({
    port,
    host: '127.0.0.1',
    servername: 'localhost',
    ca: serverPem.cert,
    ...clientPem,
    minVersion: 'TLSv1.3',
  });
  await once(warm, 'secureConnect');
  warm.write('x');
  await once(warm, 'data');
  warm.end();
  await once(warm, 'close');
  await waitFor(() => live === 0, 5000);
  const baseline = await settledMemory();

  const child = spawn(
    process.execPath,
    ['--expose-gc', TLS_CLIENT, String(port), dir, String(COUNT), String(CONCURRENCY)],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const limit = setTimeout(() => {
    console.error(`run limit of ${RUN_LIMIT_MS / 1000} s reached; killing the client`);
    child.kill();
  }, RUN_LIMIT_MS);
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const nextMessage = async (): Promise<Record<string, unknown>> => {
    const { value, done } = await lines.next();
    if (done) throw new Error('the client process ended early');
    return JSON.parse(value) as Record<string, unknown>;
  };
  let result: IdleResult | undefined;
  try {
    const opened = await nextMessage();
    const n = opened.opened as number;
    await waitFor(() => live >= n, 5000);
    console.log(
      `\nopened ${n.toLocaleString('en-US')} of ${COUNT.toLocaleString('en-US')} in ` +
        `${((opened.ms as number) / 1000).toFixed(1)} s; failures ${String(opened.failures)}; ` +
        `server holds ${live} connections`,
    );
    for (const error of opened.firstErrors as string[]) console.log(`  client error: ${error}`);
    if (n === 0) return;
    const idle = await settledMemory();
    perConnection(
      `\nserver memory, ${n} idle connections, against the baseline:`,
      baseline,
      idle,
      n,
    );
    result = idleResult('tls', baseline, idle, n);
    child.stdin.write('close\n');
    await nextMessage();
    await waitFor(() => live === 0, 30_000);
  } finally {
    clearTimeout(limit);
    child.stdin.end();
    if (child.exitCode === null) await new Promise((resolve) => child.once('exit', resolve));
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
  if (result !== undefined) console.log(`${RESULT_PREFIX}${JSON.stringify(result)}`);
}

/** Runs one measurement in a fresh process; prints its output when `verbose`. */
async function measure(kind: IdleResult['kind'], verbose: boolean): Promise<IdleResult> {
  const child = spawn(
    process.execPath,
    [
      '--expose-gc',
      SELF,
      '--only',
      kind,
      '--count',
      String(COUNT),
      '--concurrency',
      String(CONCURRENCY),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let result: IdleResult | undefined;
  for await (const line of createInterface({ input: child.stdout })) {
    if (line.startsWith(RESULT_PREFIX)) result = JSON.parse(line.slice(RESULT_PREFIX.length));
    else if (verbose) console.log(line);
  }
  if (child.exitCode === null) await once(child, 'exit');
  if (result === undefined) throw new Error(`the ${kind} measurement reported no result`);
  return result;
}

const median = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

async function orchestrate(): Promise<void> {
  const report = new BenchReport('server-idle', 2 * ROUNDS);
  const runs: { keyway: IdleResult[]; tls: IdleResult[] } = { keyway: [], tls: [] };
  for (let round = 0; round < ROUNDS; round++) {
    // Alternating which goes first spreads whatever the machine does meanwhile.
    const order: IdleResult['kind'][] = round % 2 === 0 ? ['keyway', 'tls'] : ['tls', 'keyway'];
    for (const kind of order) {
      report.step(`round ${round + 1}/${ROUNDS}: ${kind}`);
      if (round === 0) console.log('');
      runs[kind].push(await measure(kind, round === 0));
    }
  }
  const fields = ['heapUsed', 'rss', 'external'] as const;
  const summary: Record<string, unknown> = {};
  console.log(
    `\nIdle connections, ${COUNT.toLocaleString('en-US')} per server, ${ROUNDS} round(s), ` +
      'each measurement in a fresh process; per connection, medians (range):',
  );
  for (const field of fields) {
    const keyway = runs.keyway.map((r) => r[field]);
    const tls = runs.tls.map((r) => r[field]);
    const ratios = keyway.map((k, i) => k / (tls[i] as number));
    const range = (xs: number[]) =>
      `${kib(Math.min(...xs))}–${kib(Math.max(...xs))}`.replaceAll(' KiB–', '–');
    summary[field] = {
      keyway: median(keyway),
      tls: median(tls),
      ratio: median(ratios),
      keywayRuns: keyway,
      tlsRuns: tls,
    };
    const ratio = field === 'external' ? '' : `, ratio ${median(ratios).toFixed(2)}x node:tls`;
    console.log(
      `  ${field.padEnd(9)} keyway ${kib(median(keyway))} (${range(keyway)}), ` +
        `node:tls ${kib(median(tls))} (${range(tls)})${ratio}`,
    );
  }
  console.log(
    '\nTarget (docs/design.md §6): 10,000 idle authenticated connections on one server, ' +
      'memory per connection reported.',
  );
  const json = { count: COUNT, concurrency: CONCURRENCY, rounds: ROUNDS, ...summary };
  report.record('idle', json);
  report.save();
  console.log(JSON.stringify(json));
}

if (values.only === 'keyway') await keywayMain();
else if (values.only === 'tls') await tlsMain();
else await orchestrate();
