/**
 * Round-trip call rates for `keyway bench`: keyway calls over a public-key authenticated,
 * encrypted connection beside a bare 16-byte request/reply echo over plain TCP and
 * node:tls (the floor any RPC over those transports pays), sequential and with 100 in
 * flight. The serving end runs in a worker thread, so each end has a core.
 *
 * With 100 in flight, the echo client writes the 100 requests in one write, as keyway
 * sends the calls made in one tick in one write: writing them one by one would measure
 * 100 system calls on plain TCP against node:tls, which gathers queued writes into few
 * records, and make TLS look several times faster than the TCP under it.
 */
import { once } from 'node:events';
import { type Socket, connect as tcpConnect } from 'node:net';
import * as tls from 'node:tls';
import { connect, generateIdentity, KnownHosts, type Remote } from 'keyway-rpc';
import { type BenchTransport, ECHO_MESSAGE_BYTES } from './bench-worker.js';
import { startWorker } from './throughput.js';

/** Calls per second, sequential and with 100 calls in flight. */
export interface CallRates {
  readonly name: string;
  readonly sequential: number;
  readonly inFlight100: number;
}

const MAX_CALLS = 2_000_000;
const IN_FLIGHT = 100;

interface Adder {
  add(a: number, b: number): number;
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

/** keyway: a public-key authenticated ThreadedServer in a worker, `add(a, b)` round trips. */
export async function keywayCallRates(budgetMs: number): Promise<CallRates> {
  const client = generateIdentity('bench-client');
  const { worker, next } = startWorker({
    role: 'serve-calls',
    transport: 'keyway',
    clientKey: client.publicKeyLine(),
  });
  try {
    const { port, hostKey } = await next<{ port: number; hostKey: Uint8Array }>();
    const knownHosts = KnownHosts.parse('');
    knownHosts.add('127.0.0.1', port, hostKey);
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
    }
  } finally {
    await worker.terminate();
  }
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
      want = n * ECHO_MESSAGE_BYTES;
      wake = resolve;
      client.write(Buffer.alloc(n * ECHO_MESSAGE_BYTES));
    });
  await rate(200, 1, () => roundTrips(1));
  const sequential = await rate(budgetMs, 1, () => roundTrips(1));
  const inFlight100 = await rate(budgetMs, IN_FLIGHT, () => roundTrips(IN_FLIGHT));
  return { name, sequential, inFlight100 };
}

/**
 * A bare echo over plain TCP or node:tls with its server in a worker.
 * @param pem the certificate for node:tls (required for `tls`)
 */
async function bareEchoRates(
  transport: Exclude<BenchTransport, 'keyway'>,
  budgetMs: number,
  pem?: { key: string; cert: string },
): Promise<CallRates> {
  const { worker, next } = startWorker({ role: 'serve-calls', transport, pem });
  try {
    const { port } = await next<{ port: number }>();
    const plain = transport === 'tcp';
    const client = plain
      ? tcpConnect({ host: '127.0.0.1', port, noDelay: true })
      : tls.connect({ host: '127.0.0.1', port, ca: pem!.cert, servername: 'localhost' });
    client.on('error', () => {});
    client.setNoDelay(true);
    await once(client, plain ? 'connect' : 'secureConnect');
    try {
      return await echoRates(
        plain ? 'bare echo over plain TCP' : 'bare echo over node:tls',
        client,
        budgetMs,
      );
    } finally {
      client.destroy();
    }
  } finally {
    await worker.terminate();
  }
}

/** A bare echo over plain TCP. */
export function tcpCallRates(budgetMs: number): Promise<CallRates> {
  return bareEchoRates('tcp', budgetMs);
}

/** A bare echo over node:tls (TLS 1.3), with the certificate given. */
export function tlsCallRates(
  budgetMs: number,
  pem: { key: string; cert: string },
): Promise<CallRates> {
  return bareEchoRates('tls', budgetMs, pem);
}
