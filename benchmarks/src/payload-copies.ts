/**
 * Counts the copies of a payload on its way through keyway: one echo of a Uint8Array
 * over loopback TCP, both ends in this process, with every large byte copy made by
 * JavaScript recorded by call site — `TypedArray.prototype.set`, `Buffer.prototype.copy`,
 * `Buffer.concat`, `Buffer.from` of bytes, `new Uint8Array(bytes)`, and the cipher's
 * `update` output (the encryption's own copy). An echo crosses the stack twice, once
 * each way, and both directions run the same code, so a site's bytes divided by the
 * payload size and by 2 is its copies per direction. Copies inside the kernel
 * (socket buffers) are not seen. The payload benchmark (`payload-echo.ts`) measures
 * time; this only explains it.
 *
 * Usage: `node dist/payload-copies.js [--plain] [--bytes N]` (default: encrypted, 1 MiB
 * and 16 MiB).
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { once } from 'node:events';
import { createServer, connect as netConnect } from 'node:net';
import { parseArgs } from 'node:util';
import { connectTransport, duplexTransport, type Remote } from '@keyway/core';
import { AuthorizedKeys, KnownHosts, publicKeyAuth } from '@keyway/secure';
import { connect, ThreadedServer } from '@keyway/server';
import PayloadService from './payload-service.js';
import { makeBenchKeys } from './server-keys.js';

/** Copies smaller than this are not payload copies (headers, small messages). */
const MIN_BYTES = 4096;
const LIMIT = 64 * 1024 * 1024;

const sites = new Map<string, { calls: number; bytes: number }>();
let counting = false;

/** The first frames of the caller's stack outside this file, as `function file:line`. */
function site(): string {
  const lines = (new Error().stack ?? '').split('\n').slice(1);
  const frames = lines
    .map((l) => l.trim().replace(/^at /, ''))
    .filter((l) => !l.includes('payload-copies.js'))
    .slice(0, 3)
    .map((l) =>
      l.replace(/\(?(?:file:\/\/)?[^ ]*\/(?:packages|node_modules\/\.pnpm)\/([^)]*)\)?/, '$1'),
    )
    .map((l) => l.replace(/:\d+\)?$/, ''));
  return frames.join(' < ');
}

function record(bytes: number, label?: string): void {
  if (!counting || bytes < MIN_BYTES) return;
  const key = label ?? site();
  const entry = sites.get(key) ?? { calls: 0, bytes: 0 };
  entry.calls++;
  entry.bytes += bytes;
  sites.set(key, entry);
}

function instrument(): void {
  const typedArrayPrototype = Object.getPrototypeOf(Uint8Array.prototype) as {
    set(this: Uint8Array, source: ArrayLike<number>, offset?: number): void;
  };
  const set = typedArrayPrototype.set;
  typedArrayPrototype.set = function (this: Uint8Array, source, offset) {
    record((source as Uint8Array).byteLength ?? source.length);
    return set.call(this, source, offset);
  };
  const copy = Buffer.prototype.copy;
  Buffer.prototype.copy = function (
    this: Buffer,
    target: Uint8Array,
    targetStart?: number,
    sourceStart?: number,
    sourceEnd?: number,
  ) {
    const n = Math.min(
      (sourceEnd ?? this.length) - (sourceStart ?? 0),
      target.byteLength - (targetStart ?? 0),
    );
    record(n);
    return copy.call(this, target, targetStart, sourceStart, sourceEnd);
  };
  const concat = Buffer.concat;
  Buffer.concat = (list, totalLength) => {
    const out = concat(list, totalLength);
    if (list.length > 1) record(out.length);
    return out;
  };
  const from = Buffer.from as (...args: unknown[]) => Buffer;
  Buffer.from = ((...args: unknown[]) => {
    if (ArrayBuffer.isView(args[0])) record((args[0] as Uint8Array).byteLength);
    return from(...args);
  }) as typeof Buffer.from;
  // `new Uint8Array(bytes)` copies; a proxy of the constructor sees it.
  const Native = Uint8Array;
  globalThis.Uint8Array = new Proxy(Native, {
    construct(target, args, newTarget) {
      if (ArrayBuffer.isView(args[0]) && args.length === 1)
        record((args[0] as Uint8Array).byteLength);
      return Reflect.construct(
        target,
        args,
        newTarget === globalThis.Uint8Array ? target : newTarget,
      );
    },
  });
  for (const make of [createCipheriv, createDecipheriv]) {
    const sample = make('chacha20-poly1305', Buffer.alloc(32), Buffer.alloc(12), {
      authTagLength: 16,
    });
    let owner = Object.getPrototypeOf(sample) as { update: (...a: unknown[]) => Buffer };
    while (!Object.hasOwn(owner, 'update')) owner = Object.getPrototypeOf(owner);
    const update = owner.update;
    const label =
      make === createCipheriv ? 'cipher update (seal output)' : 'decipher update (open output)';
    if (Object.hasOwn(owner, '__counted')) continue;
    Object.defineProperty(owner, '__counted', { value: true });
    owner.update = function (this: unknown, ...a: unknown[]) {
      const out = update.apply(this, a);
      record(out.length, label);
      return out;
    };
  }
}

async function echoOnce(plain: boolean, bytes: number): Promise<void> {
  const payload = new Uint8Array(bytes);
  for (let at = 0; at < bytes; at += 65536)
    crypto.getRandomValues(payload.subarray(at, Math.min(at + 65536, bytes)));
  let echo: (data: Uint8Array) => Promise<Uint8Array>;
  let close: () => Promise<unknown>;
  if (plain) {
    const server = createServer((socket) => {
      socket.setNoDelay(true);
      void connectTransport(duplexTransport(socket, { maxMessageBytes: LIMIT }), {
        service: PayloadService,
        maxMessageBytes: LIMIT,
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as { port: number };
    const socket = netConnect(port, '127.0.0.1');
    await once(socket, 'connect');
    socket.setNoDelay(true);
    const conn = await connectTransport(duplexTransport(socket, { maxMessageBytes: LIMIT }), {
      maxMessageBytes: LIMIT,
    });
    const root = conn.root as Remote<PayloadService>;
    echo = (data) => root.echo(data);
    close = async () => {
      await conn.close();
      server.close();
    };
  } else {
    const keys = makeBenchKeys();
    const server = new ThreadedServer(PayloadService, {
      authenticator: publicKeyAuth({
        identity: keys.host,
        authorizedKeys: await AuthorizedKeys.load(keys.authorizedKeysPath),
      }),
      connection: { maxMessageBytes: LIMIT },
    });
    const address = await server.listen();
    const port = (address as { port: number }).port;
    const conn = await connect('127.0.0.1', port, {
      identity: keys.client,
      knownHosts: await KnownHosts.load(await keys.knownHostsFor(port)),
      connection: { maxMessageBytes: LIMIT },
    });
    const root = conn.root as Remote<PayloadService>;
    echo = (data) => root.echo(data);
    close = async () => {
      await conn.close();
      await server.close(500);
      keys.cleanup();
    };
  }
  // Two warm-up echoes: msgpackr's buffer reaches its steady size first.
  await echo(payload);
  await echo(payload);
  sites.clear();
  counting = true;
  const back = await echo(payload);
  counting = false;
  if (back.length !== bytes) throw new Error('echo returned other bytes');
  await close();
  const rows = [...sites].sort((a, b) => b[1].bytes - a[1].bytes);
  let total = 0;
  console.log(
    `\n${plain ? 'keyway, no encryption' : 'keyway (encrypted)'}: one echo of ${bytes.toLocaleString('en-US')} bytes (both directions; copies per direction = bytes / payload / 2)`,
  );
  for (const [where, { calls, bytes: copied }] of rows) {
    total += copied;
    console.log(
      `  ${(copied / bytes / 2).toFixed(2).padStart(6)} per direction  ${String(calls).padStart(5)} calls  ${where}`,
    );
  }
  console.log(`  ${(total / bytes / 2).toFixed(2).padStart(6)} per direction in all`);
}

const { values } = parseArgs({
  options: { plain: { type: 'boolean', default: false }, bytes: { type: 'string' } },
});
instrument();
const sizes = values.bytes === undefined ? [1024 * 1024, 16 * 1024 * 1024] : [Number(values.bytes)];
for (const bytes of sizes) await echoOnce(values.plain ?? false, bytes);
