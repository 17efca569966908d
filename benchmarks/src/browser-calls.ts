/**
 * keyway vs Cap'n Web from a real browser: headless Chromium (Debian's package, driven
 * by playwright-core) loads a page that connects to servers on this machine over
 * WebSocket — keyway's ThreadedServer (Noise XX, the server's key pinned, an anonymous
 * client: encrypted and server-authenticated) and Cap'n Web 0.12 on a `ws` server — and
 * measures, in one run: the time to an open session and its first answered call, and
 * calls/s of `add(a, b)` sequentially and 100 in flight. Prints a table with ratios
 * keyway/capnweb; asserts nothing. The bundle size of the browser client is printed by
 * `pnpm --filter @keyway/browser run size`.
 *
 * Run: `pnpm build && pnpm --filter @keyway/benchmarks bench:browser`
 * Environment: CHROMIUM_PATH (default /usr/bin/chromium), BROWSER_BENCH_SECONDS (1) per
 * timed window, BROWSER_BENCH_CONNECTS (20) sessions opened per side.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { newWebSocketRpcSession, RpcTarget } from 'capnweb';
import { build } from 'esbuild';
import { anonymousAuth, generateIdentity, ThreadedServer } from 'keyway-rpc';
import { chromium } from 'playwright-core';
import { WebSocket, WebSocketServer } from 'ws';
import Calculator from './server-fixtures/calculator.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SECONDS = Number(process.env.BROWSER_BENCH_SECONDS ?? 1);
const CONNECTS = Number(process.env.BROWSER_BENCH_CONNECTS ?? 20);

class CapnwebCalculator extends RpcTarget {
  add(a: number, b: number): number {
    return a + b;
  }
}

interface Side {
  connectMs: number[];
  sequentialPerSecond: number;
  inflight100PerSecond: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

const bundle = await build({
  entryPoints: [join(import.meta.dirname, '..', 'web', 'browser-bench.ts')],
  bundle: true,
  minify: true,
  platform: 'browser',
  format: 'esm',
  target: 'es2022',
  write: false,
  logLevel: 'silent',
});
const script = bundle.outputFiles[0]!.text;
const http = createServer((req, res) => {
  if (req.url === '/') {
    res
      .writeHead(200, { 'content-type': 'text/html' })
      .end('<!doctype html><title>loading</title><script type="module" src="/bench.js"></script>');
  } else if (req.url === '/bench.js') {
    res.writeHead(200, { 'content-type': 'text/javascript' }).end(script);
  } else res.writeHead(404).end();
});
http.listen(0, '127.0.0.1');
await once(http, 'listening');
const origin = `http://127.0.0.1:${(http.address() as { port: number }).port}`;

const hostKey = generateIdentity('bench-host');
const keyway = new ThreadedServer(Calculator, {
  authenticator: anonymousAuth({ identity: hostKey }),
  websocket: { allowedOrigins: [origin] },
  // Twenty sessions in a row from one page: no startup throttling in the measurement.
  maxStartups: { start: 1000, rate: 30, full: 1000 },
});
await keyway.listen();
// capnweb's server side compares readyState with the global WebSocket's constants, which
// Node 20 defines only under --experimental-websocket; ws has the same ones.
(globalThis as { WebSocket?: unknown }).WebSocket ??= WebSocket;
const capnwebServer = new WebSocketServer({ host: '127.0.0.1', port: 0 });
await once(capnwebServer, 'listening');
capnwebServer.on('connection', (socket) => {
  newWebSocketRpcSession(socket as never, new CapnwebCalculator());
});

const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
try {
  const page = await browser.newPage();
  await page.goto(`${origin}/`);
  await page.waitForFunction("document.title === 'bench ready'");
  const config = {
    keywayUrl: `ws://127.0.0.1:${keyway.websocketAddress!.port}/`,
    capnwebUrl: `ws://127.0.0.1:${(capnwebServer.address() as { port: number }).port}/`,
    hostKey: hostKey.fingerprint,
    connects: CONNECTS,
    seconds: SECONDS,
  };
  const result = (await page.evaluate(
    (c) => (globalThis as unknown as { bench(c: unknown): Promise<unknown> }).bench(c),
    config,
  )) as { keyway: Side; capnweb: Side };
  const k = result.keyway;
  const c = result.capnweb;
  const row = (name: string, kv: number, cv: number, unit: string, digits = 0) =>
    console.log(
      `${name.padEnd(34)} ${kv.toFixed(digits).padStart(10)} ${cv.toFixed(digits).padStart(10)} ${(kv / cv).toFixed(2).padStart(8)}x  ${unit}`,
    );
  console.log(`Chromium ${browser.version()} → 127.0.0.1 over WebSocket, ${SECONDS} s windows`);
  console.log(
    `${''.padEnd(34)} ${'keyway'.padStart(10)} ${'capnweb'.padStart(10)} ${'ratio'.padStart(9)}`,
  );
  row('session + first call (median)', median(k.connectMs), median(c.connectMs), 'ms', 1);
  row('sequential calls', k.sequentialPerSecond, c.sequentialPerSecond, 'calls/s');
  row('100 calls in flight', k.inflight100PerSecond, c.inflight100PerSecond, 'calls/s');
} finally {
  await browser.close();
  await keyway.close(0);
  capnwebServer.close();
  http.close();
}
