/**
 * Round-trip call rates for `keyway bench`: keyway calls over an authenticated encrypted
 * connection beside a bare 16-byte request/reply echo over plain TCP and node:tls (the
 * floor any RPC over those transports pays), sequential and with 100 in flight, both
 * ends in this process. Every loop is bounded by count and time.
 */
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import * as tls from 'node:tls';
import {
  AuthorizedKeys,
  connect,
  generateIdentity,
  KnownHosts,
  publicKeyAuth,
  type Remote,
  Service,
  ThreadedServer,
} from 'keyway-rpc';
import { selfSigned } from './throughput.js';

/** Calls per second, sequential and with 100 calls in flight. */
export interface CallRates {
  readonly name: string;
  readonly sequential: number;
  readonly inFlight100: number;
}

const MAX_CALLS = 2_000_000;
const IN_FLIGHT = 100;
const MESSAGE = 16;

class Adder extends Service {
  add(a: number, b: number): number {
    return a + b;
  }
}

async function rate(
  budgetMs: number,
  batch: number,
  step: () => Promise<unknown>,
): Promise<number> {
  const started = performance.now();
  let calls = 0;
  while (calls < MAX_CALLS && performance.now() - started < budgetMs) {
    await step();
    calls += batch;
  }
  return calls / ((performance.now() - started) / 1000);
}

/** keyway: public-key authenticated ThreadedServer, `add(a, b)` round trips. */
export async function keywayCallRates(budgetMs: number): Promise<CallRates> {
  const host = generateIdentity('bench-host');
  const client = generateIdentity('bench-client');
  const server = new ThreadedServer(Adder, {
    authenticator: publicKeyAuth({
      identity: host,
      authorizedKeys: AuthorizedKeys.parse(client.publicKeyLine()),
    }),
  });
  const { port } = (await server.listen()) as { port: number };
  const knownHosts = KnownHosts.parse('');
  knownHosts.add('127.0.0.1', port, host.publicKey);
  const conn = await connect('127.0.0.1', port, { identity: client, knownHosts });
  const adder = conn.root as Remote<Adder>;
  try {
    await rate(200, 1, () => adder.add(1, 2));
    const sequential = await rate(budgetMs, 1, () => adder.add(1, 2));
    const calls = Array.from({ length: IN_FLIGHT }, (_, i) => i);
    const inFlight100 = await rate(budgetMs, IN_FLIGHT, () =>
      Promise.all(calls.map((i) => adder.add(i, 1))),
    );
    return { name: 'keyway (key auth, encrypted)', sequential, inFlight100 };
  } finally {
    await conn.close();
    await server.close(0);
  }
}

/** Replies to every 16-byte request with 16 bytes. */
function echo(socket: Socket | tls.TLSSocket): void {
  let pending = 0;
  socket.on('data', (d: Buffer) => {
    pending += d.length;
    const replies = Math.floor(pending / MESSAGE);
    pending -= replies * MESSAGE;
    if (replies > 0) socket.write(Buffer.alloc(replies * MESSAGE));
  });
}

async function echoRates(
  name: string,
  client: Socket | tls.TLSSocket,
  budgetMs: number,
): Promise<CallRates> {
  let received = 0;
  let want = 0;
  let wake: (() => void) | undefined;
  client.on('data', (d: Buffer) => {
    received += d.length;
    if (received >= want) wake?.();
  });
  const roundTrips = (n: number) =>
    new Promise<void>((resolve) => {
      received = 0;
      want = n * MESSAGE;
      wake = resolve;
      client.write(Buffer.alloc(n * MESSAGE));
    });
  await rate(200, 1, () => roundTrips(1));
  const sequential = await rate(budgetMs, 1, () => roundTrips(1));
  // 100 requests written one by one, as 100 independent calls would be.
  const inFlight100 = await rate(budgetMs, IN_FLIGHT, () => {
    const done = new Promise<void>((resolve) => {
      received = 0;
      want = IN_FLIGHT * MESSAGE;
      wake = resolve;
    });
    for (let i = 0; i < IN_FLIGHT; i++) client.write(Buffer.alloc(MESSAGE));
    return done;
  });
  return { name, sequential, inFlight100 };
}

function listen(server: Server | tls.Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)),
  );
}

/** A bare echo over plain TCP. */
export async function tcpCallRates(budgetMs: number): Promise<CallRates> {
  const server = createServer((s) => {
    s.setNoDelay(true);
    echo(s);
  });
  const port = await listen(server);
  const client = tcpConnect({ host: '127.0.0.1', port, noDelay: true });
  await new Promise<void>((r) => client.once('connect', () => r()));
  try {
    return await echoRates('bare echo over plain TCP', client, budgetMs);
  } finally {
    client.destroy();
    server.close();
  }
}

/** A bare echo over node:tls (TLS 1.3); undefined without `openssl` to make a certificate. */
export async function tlsCallRates(budgetMs: number): Promise<CallRates | undefined> {
  const pem = selfSigned();
  if (!pem) return undefined;
  const server = tls.createServer({ ...pem, minVersion: 'TLSv1.3' }, (s) => {
    s.setNoDelay(true);
    echo(s);
  });
  const port = await listen(server);
  const client = tls.connect({ host: '127.0.0.1', port, ca: pem.cert, servername: 'localhost' });
  client.setNoDelay(true);
  await new Promise<void>((r) => client.once('secureConnect', () => r()));
  try {
    return await echoRates('bare echo over node:tls', client, budgetMs);
  } finally {
    client.destroy();
    server.close();
  }
}
