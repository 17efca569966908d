/**
 * The client side of the idle-connections benchmark's peer: node:tls connections with
 * mutual TLS 1.3 (ECDSA P-256 certificates) to the peer server of `server-idle.ts`, run as
 * a child process so that the server's process holds only its own sockets. It opens the
 * connections in batches of bounded concurrency, each one echoing a byte so that the
 * server has verified the client's certificate, then waits for `close` on stdin and for
 * the end of stdin, writing one JSON line to stdout per step.
 *
 * Usage: `node dist/server-idle-tls-client.js <port> <pem dir> <count> <concurrency>`
 */
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { connect, type TLSSocket } from 'node:tls';

const [port, pemDir, countArg, concurrencyArg] = process.argv.slice(2);
if (port === undefined || pemDir === undefined) {
  throw new TypeError('usage: server-idle-tls-client.js <port> <pem dir> <count> <concurrency>');
}
const COUNT = Number(countArg ?? 1000);
const CONCURRENCY = Number(concurrencyArg ?? 200);
/** No phase may take longer than this; the parent kills a child that hangs anyway. */
const PHASE_MS = Number(process.env.IDLE_PHASE_SECONDS ?? 300) * 1000;

const pem = (name: string) => readFileSync(join(pemDir, name), 'utf8');
const serverCert = pem('server-cert.pem');
const clientKey = pem('client-key.pem');
const clientCert = pem('client-cert.pem');
const say = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);
const sockets: TLSSocket[] = [];

async function openOne(): Promise<void> {
  const socket = connect({
    port: Number(port),
    host: '127.0.0.1',
    servername: 'localhost',
    ca: serverCert,
    key: clientKey,
    cert: clientCert,
    minVersion: 'TLSv1.3',
  });
  socket.setNoDelay(true);
  socket.on('error', () => {});
  await once(socket, 'secureConnect');
  // TLS 1.3 verifies the client's certificate after the client's Finished: one echoed
  // byte says the server accepted it.
  socket.write('x');
  await once(socket, 'data');
  sockets.push(socket);
}

async function open(): Promise<void> {
  globalThis.gc?.();
  const before = process.memoryUsage();
  const start = performance.now();
  const deadline = start + PHASE_MS;
  let next = 0;
  let failures = 0;
  const firstErrors: string[] = [];
  await Promise.all(
    Array.from({ length: Math.min(CONCURRENCY, COUNT) }, async () => {
      while (next < COUNT && performance.now() < deadline) {
        next++;
        try {
          await openOne();
        } catch (error) {
          failures++;
          if (firstErrors.length < 5) firstErrors.push(String(error));
        }
      }
    }),
  );
  globalThis.gc?.();
  const after = process.memoryUsage();
  say({
    opened: sockets.length,
    ms: performance.now() - start,
    failures,
    firstErrors,
    clientBefore: { heapUsed: before.heapUsed, rss: before.rss },
    clientAfter: { heapUsed: after.heapUsed, rss: after.rss },
  });
}

await open();
for await (const line of createInterface({ input: process.stdin })) {
  if (line !== 'close') continue;
  const start = performance.now();
  await Promise.all(
    sockets.map(async (socket) => {
      const closed = once(socket, 'close');
      socket.end();
      await closed;
    }),
  );
  say({ closed: sockets.length, ms: performance.now() - start });
}
process.exit(0);
