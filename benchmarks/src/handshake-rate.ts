/**
 * Login handshakes per second, as a server sees them (docs/design.md §6 "Targets"): a
 * keyway client `connect()`s to a ThreadedServer with public-key authentication (Noise
 * XX, both Ed25519 hellos, the server's key checks and the session opening) and closes;
 * beside it, node:tls mutual TLS 1.3 with ECDSA P-256 certificates, connect and close.
 * Both run in this process, 4 in flight, interleaved round by round; printed are the
 * medians and the median of the per-round ratios, then one JSON line.
 *
 * Run: `pnpm --filter @keyway/benchmarks build && node benchmarks/dist/handshake-rate.js`
 * Environment: BENCH_ROUNDS (default 5), BENCH_SECONDS per window (default 2).
 */
import { once } from 'node:events';
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { createServer as createTlsServer, connect as tlsConnect } from 'node:tls';
import { AuthorizedKeys, KnownHosts, publicKeyAuth } from '@keyway/secure';
import { connect, ThreadedServer } from '@keyway/server';
import { type Pem, selfSigned } from './channel-certs.js';
import Calculator from './server-fixtures/calculator.js';
import { makeBenchKeys } from './server-keys.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 2);
const CONCURRENCY = 4;

async function rate(one: () => Promise<void>): Promise<number> {
  for (let i = 0; i < 10; i++) await one();
  let count = 0;
  const start = performance.now();
  const until = start + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < until) {
        await one();
        count++;
      }
    }),
  );
  return count / ((performance.now() - start) / 1000);
}

async function tlsServer(serverPem: Pem, clientPem: Pem): Promise<() => Promise<void>> {
  const server = createTlsServer({
    ...serverPem,
    minVersion: 'TLSv1.3',
    requestCert: true,
    rejectUnauthorized: true,
    ca: clientPem.cert,
  });
  server.on('secureConnection', (s) => {
    s.setNoDelay(true);
    s.end();
  });
  server.on('tlsClientError', () => {});
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  return async () => {
    const socket = tlsConnect({
      port,
      host: '127.0.0.1',
      servername: 'localhost',
      ca: serverPem.cert,
      ...clientPem,
      minVersion: 'TLSv1.3',
    });
    socket.setNoDelay(true);
    await once(socket, 'secureConnect');
    // TLS 1.3 finishes client auth after the client's Finished: wait for the server's answer.
    await once(socket, 'end');
    socket.end();
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
    `handshakes/s, mutual authentication, ${CONCURRENCY} in flight, ${ROUNDS} rounds of ${SECONDS} s, ` +
      `Node ${process.version}, load average ${load.map((l) => l.toFixed(1)).join(' ')}`,
  );
  const keys = makeBenchKeys();
  const server = new ThreadedServer(Calculator, {
    maxStartups: { start: 64, rate: 30, full: 100 },
    authenticator: publicKeyAuth({
      identity: keys.host,
      authorizedKeys: await AuthorizedKeys.load(keys.authorizedKeysPath),
    }),
  });
  const address = await server.listen();
  if (!('port' in address)) throw new Error('expected a TCP address');
  const knownHosts = await KnownHosts.load(await keys.knownHostsFor(address.port));
  const keyway = async () => {
    const conn = await connect('127.0.0.1', address.port, { identity: keys.client, knownHosts });
    await conn.close();
  };
  const tls = await tlsServer(selfSigned('localhost'), selfSigned('client'));
  const rates = { tls: [] as number[], keyway: [] as number[], ratio: [] as number[] };
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const t = await rate(tls);
      const k = await rate(keyway);
      rates.tls.push(t);
      rates.keyway.push(k);
      rates.ratio.push(k / t);
    }
  } finally {
    await server.close(0);
    keys.cleanup();
  }
  const result = {
    tls: median(rates.tls),
    keyway: median(rates.keyway),
    ratio: median(rates.ratio),
    ratioRange: [Math.min(...rates.ratio), Math.max(...rates.ratio)],
  };
  console.log(`  node:tls mutual TLS 1.3 (ECDSA P-256)   ${result.tls.toFixed(0).padStart(6)}/s`);
  console.log(
    `  keyway connect(), publickey, Noise XX   ${result.keyway.toFixed(0).padStart(6)}/s  ` +
      `${result.ratio.toFixed(2)}x mTLS (rounds ${result.ratioRange.map((r) => r.toFixed(2)).join('–')})`,
  );
  console.log(
    `load average at end ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
  console.log(JSON.stringify({ rounds: ROUNDS, seconds: SECONDS, load, ...result }));
  process.exit(0);
}

await main();
