/**
 * Compile-only type tests for Remote<T> (checked by `pnpm typecheck`, never run).
 * Each `@ts-expect-error` line must fail to compile, or the typecheck fails.
 */
import type { Connection } from '../src/connection.js';
import type { Remote } from '../src/remote.js';
import { Service } from '../src/service.js';

class File {
  read(n: number): Uint8Array {
    return new Uint8Array(n);
  }
  get size(): number {
    return 0;
  }
}

class Api extends Service {
  version = '1';
  _secret = 1;
  add(a: number, b: number): number {
    return a + b;
  }
  async open(_name: string): Promise<File> {
    return new File();
  }
  config(): { level: number; tags: string[] } {
    return { level: 1, tags: [] };
  }
  onEvent(cb: (x: number) => void): void {
    cb(1);
  }
  adder(n: number): (x: number) => number {
    return (x) => x + n;
  }
  async *ticks(n: number): AsyncGenerator<number> {
    for (let i = 0; i < n; i++) yield i;
  }
  download(_name: string): ReadableStream<Uint8Array> {
    return new ReadableStream<Uint8Array>();
  }
  async upload(_data: ReadableStream<Uint8Array>): Promise<number> {
    return 0;
  }
}

declare const conn: Connection;
const api = conn.root as Remote<Api>;

export async function checks(): Promise<void> {
  const sum: number = await api.add(1, 2);
  // @ts-expect-error wrong argument type
  await api.add('1', 2);
  // @ts-expect-error results are promises, not numbers
  const notAwaited: number = api.add(1, 2);
  // Pipelining: members of a not-yet-resolved result are typed.
  const bytes: Uint8Array = await api.open('x').read(10);
  const size: number = await api.open('x').size;
  const file = await api.open('x');
  const again: Uint8Array = await file.read(1);
  // Plain data arrives as data.
  const level: number = (await api.config()).level;
  const viaPath: number = await api.config().level;
  const version: string = await api.version;
  // @ts-expect-error underscored members are not part of the remote type
  void api._secret;
  // @ts-expect-error the service hooks are not part of the remote type
  void api.onConnect;
  // @ts-expect-error a remote object stub is not thenable
  void api.then;
  await api.onEvent((x: number) => void x);
  // A function result is callable before it arrives.
  const fifteen: number = await api.adder(10)(5);
  // Iterable results work with for await, typed.
  for await (const tick of api.ticks(3)) {
    const t: number = tick;
    void t;
  }
  // A byte stream arrives as a ReadableStream of bytes, and is sent as one.
  const stream: ReadableStream<Uint8Array> = await api.download('f');
  // @ts-expect-error a stream result is a promise of a stream, not a stream
  const notStream: ReadableStream<Uint8Array> = api.download('f');
  const uploaded: number = await api.upload(stream);
  // @ts-expect-error the parameter is a stream, not bytes
  await api.upload(new Uint8Array(1));
  void [notStream, uploaded];
  // Stubs are disposable (`using`).
  {
    using held = await api.open('y');
    void held;
  }
  void fifteen;
  void [sum, notAwaited, bytes, size, again, level, viaPath, version];
}

// The seam with @keyway/secure is structural: anything with this shape is a Transport,
// without importing core (the secure channel relies on it).
import type { Transport, TransportReceiver } from '../src/transport.js';

class ChannelLike {
  readonly remoteAddress = '127.0.0.1:22';
  send(_data: Uint8Array): void {}
  start(_receiver: TransportReceiver): void {}
  close(_error?: Error): void {}
}
export const fits: Transport = new ChannelLike();
