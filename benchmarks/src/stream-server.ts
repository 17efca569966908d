/**
 * The server end of the byte-stream benchmark (`stream-throughput.ts`): a ThreadedServer
 * with public-key authentication (Noise XX, encrypted) whose service hands out a byte
 * stream of any length, made on demand in 64 KiB chunks. Forked with an IPC channel; it
 * sends `{ port }`, answers `{ rss: true }` with its peak resident memory since the last
 * such question, and exits when the parent disconnects.
 *
 * Usage (by the parent only): `fork(stream-server.js, [host key, authorized_keys])`.
 */
import { Service } from '@keyway/core';
import { AuthorizedKeys, loadIdentity, publicKeyAuth } from '@keyway/secure';
import { ThreadedServer } from '@keyway/server';

const CHUNK = 64 * 1024;

/** Streams of bytes. */
class StreamService extends Service {
  /** A stream of `total` bytes, each chunk made when the reader asks for it. */
  download(total: number): ReadableStream<Uint8Array> {
    let sent = 0;
    return new ReadableStream<Uint8Array>(
      {
        pull(controller) {
          if (sent >= total) {
            controller.close();
            return;
          }
          const n = Math.min(CHUNK, total - sent);
          controller.enqueue(new Uint8Array(n));
          sent += n;
        },
      },
      { highWaterMark: 0 },
    );
  }
}

export type { StreamService };

let peak = 0;
setInterval(() => {
  peak = Math.max(peak, process.memoryUsage.rss());
}, 100).unref();

const [hostKeyPath, authorizedKeysPath] = process.argv.slice(2);
if (hostKeyPath === undefined || authorizedKeysPath === undefined || process.send === undefined)
  throw new TypeError('stream-server.js is forked by stream-throughput.js');
const server = new ThreadedServer(StreamService, {
  authenticator: publicKeyAuth({
    identity: await loadIdentity(hostKeyPath),
    authorizedKeys: await AuthorizedKeys.load(authorizedKeysPath),
  }),
});
const address = await server.listen();
if (!('port' in address)) throw new Error('expected a TCP address');
process.send({ port: address.port });
process.on('message', (message: { rss?: boolean }) => {
  if (!message.rss) return;
  const rss = process.memoryUsage.rss();
  process.send?.({ peak: Math.max(peak, rss), rss });
  peak = rss;
});
process.on('disconnect', () => {
  void server.close(500).then(() => process.exit(0));
});
