/**
 * The far end of every `keyway bench` measurement, run in a worker thread so that each
 * end has a core of its own, as two processes on one machine would (the way the numbers
 * in the README were measured). Roles:
 * - `receive`: accepts one connection (plain TCP, node:tls or keyway's Noise channel),
 *   counts the bytes that arrive and reports them when the sender ends;
 * - `serve-calls`: a public-key authenticated keyway ThreadedServer with `add(a, b)`, or
 *   a bare request/reply echo over plain TCP or node:tls.
 * The worker posts `{ port }` once listening (with the host key for keyway calls).
 */
import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { parentPort, workerData } from 'node:worker_threads';
import {
  AuthorizedKeys,
  generateIdentity,
  keywayPrologue,
  nodeCryptoProvider,
  performHandshake,
  publicKeyAuth,
  Service,
  ThreadedServer,
  type X25519KeyPair,
} from 'keyway-rpc';

/** What the far end measures over. */
export type BenchTransport = 'tcp' | 'tls' | 'keyway';

/** Input of the worker. */
export type BenchWorkerInput =
  | {
      readonly role: 'receive';
      readonly transport: BenchTransport;
      readonly pem?: { key: string; cert: string } | undefined;
      readonly serverKey?: X25519KeyPair | undefined;
    }
  | {
      readonly role: 'serve-calls';
      readonly transport: BenchTransport;
      readonly pem?: { key: string; cert: string } | undefined;
      /** The client's public key line, for keyway's authorized_keys. */
      readonly clientKey?: string | undefined;
    };

/** The prologue both ends of the bench channel bind into the handshake. */
export const BENCH_PROLOGUE = keywayPrologue('keyway-bench');

/** Bytes of a bare echo request and reply. */
export const ECHO_MESSAGE_BYTES = 16;

class Adder extends Service {
  add(a: number, b: number): number {
    return a + b;
  }
}

function listening(server: { listen(port: number, host: string): unknown }): Promise<unknown> {
  server.listen(0, '127.0.0.1');
  return once(server as never, 'listening');
}

async function receive(input: Extract<BenchWorkerInput, { role: 'receive' }>): Promise<void> {
  let bytes = 0;
  const done = (): void => parentPort!.postMessage({ bytes });
  const onSocket = async (socket: Socket | TLSSocket): Promise<void> => {
    socket.on('error', () => {});
    if (input.transport === 'keyway') {
      const { channel } = await performHandshake(socket, {
        role: 'responder',
        staticKeyPair: input.serverKey!,
        prologue: BENCH_PROLOGUE,
        verifyRemote: () => {},
        provider: nodeCryptoProvider,
      });
      channel.setLimits({ maxFrameBytes: 65535 });
      channel.start({
        onMessage: (data) => {
          bytes += data.length;
        },
        onClose: done,
      });
      return;
    }
    socket.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
    });
    socket.on('end', () => {
      done();
      socket.end();
    });
  };
  const server =
    input.transport === 'tls'
      ? createTlsServer({ ...input.pem!, minVersion: 'TLSv1.3' }, (s) => void onSocket(s))
      : createServer((s) => void onSocket(s));
  await listening(server);
  parentPort!.postMessage({ port: (server.address() as { port: number }).port });
}

/** Replies to every 16-byte request with 16 bytes, in one write per arrival. */
function echo(socket: Socket | TLSSocket): void {
  socket.setNoDelay(true);
  socket.on('error', () => {});
  let pending = 0;
  socket.on('data', (d: Buffer) => {
    pending += d.length;
    const replies = Math.floor(pending / ECHO_MESSAGE_BYTES);
    pending -= replies * ECHO_MESSAGE_BYTES;
    if (replies > 0) socket.write(Buffer.alloc(replies * ECHO_MESSAGE_BYTES));
  });
}

async function serveCalls(
  input: Extract<BenchWorkerInput, { role: 'serve-calls' }>,
): Promise<void> {
  if (input.transport === 'keyway') {
    const host = generateIdentity('bench-host');
    const server = new ThreadedServer(Adder, {
      authenticator: publicKeyAuth({
        identity: host,
        authorizedKeys: AuthorizedKeys.parse(input.clientKey ?? ''),
      }),
    });
    const { port } = (await server.listen()) as { port: number };
    parentPort!.postMessage({ port, hostKey: host.publicKey });
    return;
  }
  const server =
    input.transport === 'tls'
      ? createTlsServer({ ...input.pem!, minVersion: 'TLSv1.3' }, echo)
      : createServer(echo);
  await listening(server);
  parentPort!.postMessage({ port: (server.address() as { port: number }).port });
}

if (parentPort !== null) {
  const input = workerData as BenchWorkerInput;
  void (input.role === 'receive' ? receive(input) : serveCalls(input));
}
