/**
 * The server end of the payload benchmark (`payload-echo.ts`), one process per variant,
 * forked with an IPC channel. Variants:
 *
 * - `tcp`: echoes every `u32be length ‖ bytes` frame back on plain TCP;
 * - `tls`: the same over node:tls, TLS 1.3 (certificate given by the parent);
 * - `keyway`: a ThreadedServer with public-key authentication (Noise XX, encrypted);
 * - `keyway-plain`: keyway core over plain TCP (`duplexTransport`), no encryption.
 *
 * Both keyway variants serve {@link PayloadService}. The parent learns the port from a
 * `{ port }` message, asks `{ cpu: true }` to read this process's CPU at the edges of
 * each timed window, and disconnects (or sends `{ exit: true }`) to stop it: the process
 * then exits normally, so that `--cpu-prof` writes its profile.
 *
 * Usage (by the parent only): `fork(payload-server.js, [variant, JSON options])`.
 */
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { connectTransport, duplexTransport } from '@keyway/core';
import { AuthorizedKeys, loadIdentity, publicKeyAuth } from '@keyway/secure';
import { ThreadedServer } from '@keyway/server';
import PayloadService from './payload-service.js';

/** What the parent passes as the second argument, as JSON. */
export interface PayloadServerOptions {
  /** Largest message both keyway ends accept and send. */
  maxMessageBytes: number;
  /** For `tls`. */
  tls?: { key: string; cert: string };
  /** For `keyway`. */
  keys?: { hostKeyPath: string; authorizedKeysPath: string };
}

/** A message from the server process to the parent. */
export type ServerReport = { port: number } | { cpuMicros: number } | { error: string };

const HEADER_BYTES = 4;

/** Echoes each length-prefixed frame back; one copy to join a frame split across reads. */
function echoFrames(socket: Socket): void {
  socket.setNoDelay(true);
  let chunks: Buffer[] = [];
  let buffered = 0;
  let need = -1;
  socket.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    buffered += chunk.length;
    while (true) {
      if (need < 0) {
        if (buffered < HEADER_BYTES) return;
        if (chunks[0]!.length < HEADER_BYTES) chunks = [Buffer.concat(chunks)];
        need = chunks[0]!.readUInt32BE(0);
        chunks[0] = chunks[0]!.subarray(HEADER_BYTES);
        buffered -= HEADER_BYTES;
      }
      if (buffered < need) return;
      const all = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      const frame = all.subarray(0, need);
      chunks = all.length > need ? [all.subarray(need)] : [];
      buffered -= need;
      const header = Buffer.allocUnsafe(HEADER_BYTES);
      header.writeUInt32BE(need, 0);
      need = -1;
      socket.cork();
      socket.write(header);
      socket.write(frame);
      process.nextTick(() => socket.uncork());
    }
  });
  socket.on('error', () => socket.destroy());
}

async function listen(server: Server | ThreadedServer): Promise<number> {
  if (server instanceof ThreadedServer) {
    const address = await server.listen();
    if (!('port' in address)) throw new Error('expected a TCP address');
    return address.port;
  }
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('expected a TCP address');
  return address.port;
}

async function start(variant: string, options: PayloadServerOptions): Promise<() => unknown> {
  const limit = options.maxMessageBytes;
  switch (variant) {
    case 'tcp': {
      const server = createServer(echoFrames);
      report({ port: await listen(server) });
      return () => server.close();
    }
    case 'tls': {
      if (options.tls === undefined) throw new Error('tls needs a key and certificate');
      const server = createTlsServer(
        { ...options.tls, minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' },
        echoFrames,
      );
      report({ port: await listen(server) });
      return () => server.close();
    }
    case 'keyway': {
      if (options.keys === undefined) throw new Error('keyway needs key files');
      const server = new ThreadedServer(PayloadService, {
        authenticator: publicKeyAuth({
          identity: await loadIdentity(options.keys.hostKeyPath),
          authorizedKeys: await AuthorizedKeys.load(options.keys.authorizedKeysPath),
        }),
        connection: { maxMessageBytes: limit },
      });
      report({ port: await listen(server) });
      return () => server.close(500);
    }
    case 'keyway-plain': {
      const server = createServer((socket) => {
        socket.setNoDelay(true);
        connectTransport(duplexTransport(socket, { maxMessageBytes: limit }), {
          service: PayloadService,
          maxMessageBytes: limit,
        }).catch(() => socket.destroy());
      });
      report({ port: await listen(server) });
      return () => server.close();
    }
    default:
      throw new Error(`unknown variant ${variant}`);
  }
}

function report(message: ServerReport): void {
  process.send?.(message);
}

const [variant, json] = process.argv.slice(2);
if (variant === undefined || json === undefined || process.send === undefined) {
  throw new TypeError('payload-server.js is forked by payload-echo.js: <variant> <options>');
}
try {
  const stop = await start(variant, JSON.parse(json) as PayloadServerOptions);
  const exit = async () => {
    await stop();
    // A normal exit, so that --cpu-prof writes the profile.
    process.exit(0);
  };
  process.on('message', (message: { cpu?: boolean; exit?: boolean }) => {
    if (message.cpu) {
      const used = process.cpuUsage();
      report({ cpuMicros: used.user + used.system });
    } else if (message.exit) void exit();
  });
  process.on('disconnect', () => void exit());
} catch (error) {
  report({ error: (error as Error).message });
  process.exitCode = 1;
  process.disconnect();
}
