/**
 * The client ends of the payload benchmark (`payload-echo.ts`) and the timed cells they
 * run. Every variant is driven the same way: echoes of one payload in a row, or trivial
 * calls sequentially or in batches of W in flight, after a short warm-up, bounded by a
 * count and a time window; CPU is this process's (the client) plus the server process's
 * over the same window. RPyC's client is a Python process (`rpyc/rpyc_echo.py client`)
 * that runs the same cells itself.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect as netConnect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { createInterface, type Interface } from 'node:readline';
import { connect as tlsConnect } from 'node:tls';
import { connectTransport, duplexTransport, type Remote } from '@keyway/core';
import { KnownHosts } from '@keyway/secure';
import { connect } from '@keyway/server';
import type PayloadService from './payload-service.js';
import type { BenchKeys } from './server-keys.js';

/** One timed cell: an echo of `bytes`, or trivial calls `width` at a time (1 = sequential). */
export type Cell = { cell: 'echo'; bytes: number } | { cell: 'calls'; width: number };

/** What one cell measured over its window. */
export interface CellResult {
  /** Echoes, or calls, completed. */
  ops: number;
  seconds: number;
  clientCpuMicros: number;
  serverCpuMicros: number;
}

/** A connected client of one variant. */
export interface Driver {
  run(cell: Cell, seconds: number): Promise<CellResult>;
  close(): Promise<void>;
}

/** Echo and trivial call of a Node client; `serverCpu` reads the server process's CPU. */
interface NodeClient {
  echo(payload: Uint8Array): Promise<Uint8Array>;
  add(a: number, b: number): Promise<number>;
  close(): Promise<void>;
}

/** Bounds every cell whatever its window (a 64 KiB echo is ~0.1 ms at best). */
const MAX_OPS = 5_000_000;
/** The trivial message of the TCP and TLS floors: 26 bytes + the 4-byte length = 30. */
const PING = new Uint8Array(26).fill(7);

const payloads = new Map<number, Uint8Array>();

/** Random (incompressible) bytes, made once per size and reused by every variant. */
function payloadOf(bytes: number): Uint8Array {
  let payload = payloads.get(bytes);
  if (payload === undefined) {
    payload = new Uint8Array(bytes);
    for (let at = 0; at < bytes; at += 65536) {
      crypto.getRandomValues(payload.subarray(at, Math.min(at + 65536, bytes)));
    }
    payloads.set(bytes, payload);
  }
  return payload;
}

/** One operation of a cell; resolves to how many calls or echoes it completed. */
function operation(client: NodeClient, cell: Cell): () => Promise<number> {
  if (cell.cell === 'echo') {
    const payload = payloadOf(cell.bytes);
    return async () => {
      const back = await client.echo(payload);
      if (back.length !== payload.length || back[back.length - 1] !== payload[payload.length - 1])
        throw new Error(`echo of ${payload.length} bytes returned other bytes`);
      return 1;
    };
  }
  const width = cell.width;
  if (width === 1) {
    return async () => {
      if ((await client.add(1, 2)) !== 3) throw new Error('add(1, 2) !== 3');
      return 1;
    };
  }
  const batch = new Array<Promise<number>>(width);
  return async () => {
    for (let i = 0; i < width; i++) batch[i] = client.add(i, 1);
    const sums = await Promise.all(batch);
    if (sums[width - 1] !== width) throw new Error('add returned the wrong sum');
    return width;
  };
}

/** Runs cells for a Node client whose server lives in `server` (a forked process). */
function nodeDriver(client: NodeClient, server: ChildProcess): Driver {
  const serverCpu = async (): Promise<number> => {
    const answer = once(server, 'message') as Promise<[{ cpuMicros?: number }]>;
    server.send({ cpu: true });
    const [message] = await answer;
    if (message.cpuMicros === undefined) throw new Error('the server did not report its CPU');
    return message.cpuMicros;
  };
  return {
    async run(cell, seconds) {
      const op = operation(client, cell);
      const warmUntil = performance.now() + Math.min(300, seconds * 250);
      await op();
      while (performance.now() < warmUntil) await op();
      const serverBefore = await serverCpu();
      const cpu = process.cpuUsage();
      const start = performance.now();
      const deadline = start + seconds * 1000;
      let ops = 0;
      while (ops < MAX_OPS) {
        ops += await op();
        if (performance.now() >= deadline) break;
      }
      const elapsed = (performance.now() - start) / 1000;
      const used = process.cpuUsage(cpu);
      const serverUsed = (await serverCpu()) - serverBefore;
      return {
        ops,
        seconds: elapsed,
        clientCpuMicros: used.user + used.system,
        serverCpuMicros: serverUsed,
      };
    },
    close: () => client.close(),
  };
}

/**
 * Requests over `u32be length ‖ bytes` frames that the server echoes, answered in order:
 * the framing any length-prefixed protocol pays for, with one copy to join a frame that
 * arrives in several reads.
 */
function framedClient(socket: Socket): NodeClient {
  socket.setNoDelay(true);
  const waiting: ((frame: Uint8Array) => void)[] = [];
  let head = 0;
  let chunks: Buffer[] = [];
  let buffered = 0;
  let need = -1;
  let corked = false;
  socket.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    buffered += chunk.length;
    while (true) {
      if (need < 0) {
        if (buffered < 4) return;
        if (chunks[0]!.length < 4) chunks = [Buffer.concat(chunks)];
        need = chunks[0]!.readUInt32BE(0);
        chunks[0] = chunks[0]!.subarray(4);
        buffered -= 4;
      }
      if (buffered < need) return;
      const all = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      const frame = all.subarray(0, need);
      chunks = all.length > need ? [all.subarray(need)] : [];
      buffered -= need;
      need = -1;
      const resolve = waiting[head]!;
      waiting[head++] = undefined as never;
      if (head === waiting.length) {
        waiting.length = 0;
        head = 0;
      }
      resolve(frame);
    }
  });
  const request = (bytes: Uint8Array): Promise<Uint8Array> =>
    new Promise((resolve) => {
      waiting.push(resolve);
      const header = Buffer.allocUnsafe(4);
      header.writeUInt32BE(bytes.length, 0);
      if (!corked) {
        corked = true;
        socket.cork();
        process.nextTick(() => {
          corked = false;
          socket.uncork();
        });
      }
      socket.write(header);
      socket.write(bytes);
    });
  return {
    echo: request,
    // The floor of a call: a 30-byte request and its 30-byte reply.
    add: async (a, b) => {
      await request(PING);
      return a + b;
    },
    async close() {
      socket.end();
      socket.destroy();
    },
  };
}

async function dialed(socket: Socket, event: string): Promise<Socket> {
  await once(socket, event);
  return socket;
}

/** Connects the client of a Node variant to its server on `port`. */
export async function nodeClient(
  variant: string,
  port: number,
  server: ChildProcess,
  options: { keys: BenchKeys; maxMessageBytes: number },
): Promise<Driver> {
  switch (variant) {
    case 'tcp':
      return nodeDriver(
        framedClient(await dialed(netConnect(port, '127.0.0.1'), 'connect')),
        server,
      );
    case 'tls': {
      const socket = tlsConnect({
        host: '127.0.0.1',
        port,
        rejectUnauthorized: false,
        minVersion: 'TLSv1.3',
      });
      return nodeDriver(framedClient(await dialed(socket, 'secureConnect')), server);
    }
    case 'keyway': {
      const conn = await connect('127.0.0.1', port, {
        identity: options.keys.client,
        knownHosts: await KnownHosts.load(await options.keys.knownHostsFor(port)),
        connection: { maxMessageBytes: options.maxMessageBytes },
      });
      const root = conn.root as Remote<PayloadService>;
      return nodeDriver(
        {
          echo: (payload) => root.echo(payload),
          add: (a, b) => root.add(a, b),
          close: () => conn.close(),
        },
        server,
      );
    }
    case 'keyway-plain': {
      const socket = await dialed(netConnect(port, '127.0.0.1'), 'connect');
      socket.setNoDelay(true);
      const conn = await connectTransport(
        duplexTransport(socket, { maxMessageBytes: options.maxMessageBytes }),
        { maxMessageBytes: options.maxMessageBytes },
      );
      const root = conn.root as Remote<PayloadService>;
      return nodeDriver(
        {
          echo: (payload) => root.echo(payload),
          add: (a, b) => root.add(a, b),
          close: () => conn.close(),
        },
        server,
      );
    }
    default:
      throw new Error(`unknown variant ${variant}`);
  }
}

/** Reads JSON lines one at a time from a child's stdout. */
function lineReader(lines: Interface): () => Promise<Record<string, unknown>> {
  const iterator = lines[Symbol.asyncIterator]();
  return async () => {
    const next = await iterator.next();
    if (next.done) throw new Error('the RPyC process ended');
    return JSON.parse(next.value as string) as Record<string, unknown>;
  };
}

/** Starts the RPyC client process against the RPyC server on `port`. */
export async function rpycClient(python: string, script: string, port: number): Promise<Driver> {
  const child = spawn(python, [script, 'client', String(port)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const next = lineReader(createInterface({ input: child.stdout! }));
  await next();
  return {
    async run(cell, seconds) {
      child.stdin!.write(`${JSON.stringify({ ...cell, seconds })}\n`);
      const answer = await next();
      if (typeof answer.error === 'string') throw new Error(answer.error);
      return answer as unknown as CellResult;
    },
    async close() {
      child.stdin!.end();
      if (child.exitCode === null) await once(child, 'exit');
    },
  };
}

/** Starts the RPyC server process; resolves to its port and a way to stop it. */
export async function rpycServer(
  python: string,
  script: string,
): Promise<{ port: number; peer: string; stop: () => Promise<void> }> {
  const child = spawn(python, [script, 'server'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const next = lineReader(createInterface({ input: child.stdout! }));
  const first = await next();
  return {
    port: first.port as number,
    peer: first.peer as string,
    async stop() {
      child.stdin!.end();
      if (child.exitCode === null) await once(child, 'exit');
    },
  };
}
