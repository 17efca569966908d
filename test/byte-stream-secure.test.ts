/**
 * Byte streams over the secure channel, end to end (docs/protocol.md §10): a
 * ThreadedServer in one process, the reader in another, 1 GiB through one stream with
 * each process's resident memory growing by less than 64 MiB; cancelling midway from
 * either side frees both ends; a ThreadPoolServer worker serves a stream through its relay.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { ThreadPoolServer } from '@keyway/server';
import {
  type Connection,
  type ConnectionStats,
  connect,
  generateIdentity,
  KnownHosts,
  type Remote,
  RemoteError,
} from 'keyway-rpc';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

interface Streams {
  download(total: number): ReadableStream<Uint8Array>;
  failing(after: number): ReadableStream<Uint8Array>;
  upload(stream: ReadableStream<Uint8Array>): number;
  readSome(stream: ReadableStream<Uint8Array>, bytes: number): number;
  measure(): void;
  report(): { produced: number; cancelled: number; connection: ConnectionStats };
}

const GiB = 1024 * 1024 * 1024;
const MiB = 1024 * 1024;
const hostKey = generateIdentity('stream-host');
const dir = mkdtempSync(join(tmpdir(), 'keyway-stream-'));
const fixtures = join(import.meta.dirname, 'fixtures');
let child: ChildProcess;
let port: number;

beforeAll(async () => {
  const hostKeyPath = join(dir, 'host_key');
  writeFileSync(hostKeyPath, hostKey.toOpenSSH().privateKey, { mode: 0o600 });
  child = spawn(
    process.execPath,
    ['--expose-gc', join(fixtures, 'stream-server.mjs'), hostKeyPath],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  port = await new Promise<number>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      const match = /ready (\d+)/.exec(d.toString());
      if (match) resolve(Number(match[1]));
    });
    child.once('exit', (code) => reject(new Error(`server exited early (${code})`)));
  });
});

afterAll(() => {
  child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

async function client(): Promise<Connection> {
  const knownHosts = KnownHosts.parse('');
  knownHosts.add('127.0.0.1', port, hostKey.publicKey);
  return connect('127.0.0.1', port, { knownHosts });
}

/** Runs stream-client.mjs in its own process; what it measured. */
async function measured(direction: 'download' | 'upload', total: number) {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [
      '--expose-gc',
      join(fixtures, 'stream-client.mjs'),
      String(port),
      Buffer.from(hostKey.publicKey).toString('hex'),
      String(total),
      direction,
    ],
    { timeout: 60_000 },
  );
  return JSON.parse(stdout) as {
    bytes: number;
    seconds: number;
    clientGrowth: number;
    serverGrowth: number;
    clientStats: ConnectionStats;
    serverStats: ConnectionStats;
  };
}

describe('byte streams over the secure channel', () => {
  it('1 GiB flows through one stream in constant memory on both sides', async () => {
    const result = await measured('download', GiB);
    console.log(
      `1 GiB stream: ${(GiB / MiB / result.seconds).toFixed(0)} MiB/s, RSS growth client ` +
        `${(result.clientGrowth / MiB).toFixed(1)} MiB, server ${(result.serverGrowth / MiB).toFixed(1)} MiB`,
    );
    expect(result.bytes).toBe(GiB);
    expect(result.clientGrowth).toBeLessThan(64 * MiB);
    expect(result.serverGrowth).toBeLessThan(64 * MiB);
    expect(result.clientStats.questions).toBe(0);
  }, 70_000);

  it('a stream sent by the client flows to the server the same way', async () => {
    const result = await measured('upload', GiB / 4);
    expect(result.bytes).toBe(GiB / 4);
    expect(result.clientGrowth).toBeLessThan(64 * MiB);
    expect(result.serverGrowth).toBeLessThan(64 * MiB);
  }, 70_000);

  it('cancelling midway from the reader or the owner frees both ends', async () => {
    const connection = await client();
    const api = connection.root as Remote<Streams>;
    const before = (await api.report()).cancelled;
    // The reader (client) cancels the server's stream.
    const reader = (await api.download(GiB)).getReader();
    let got = 0;
    while (got < 8 * MiB) got += (await reader.read()).value!.byteLength;
    await reader.cancel();
    await waitFor(async () => (await api.report()).cancelled === before + 1);
    // The reader (server) cancels the client's stream.
    let cancelled = 0;
    const mine = new ReadableStream<Uint8Array>(
      {
        pull: (controller) => controller.enqueue(new Uint8Array(64 * 1024)),
        cancel: () => {
          cancelled++;
        },
      },
      { highWaterMark: 0 },
    );
    expect(await api.readSome(mine, 8 * MiB)).toBeGreaterThanOrEqual(8 * MiB);
    await waitFor(async () => cancelled === 1);
    // The owner (server) gives up: the reader's read rejects with a RemoteError.
    const failing = (await api.failing(4 * MiB)).getReader();
    const error = await (async () => {
      for (let i = 0; i < 1000; i++) if ((await failing.read()).done) return 'ended';
    })().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RemoteError);
    await waitFor(async () => {
      const server = (await api.report()).connection;
      const mine = connection.stats();
      // report() itself is an answer of the server until its finish reaches it.
      return (
        server.exports === 0 && mine.exports === 0 && mine.questions === 0 && server.answers <= 1
      );
    });
    connection.close();
  }, 60_000);
});

describe('byte streams through a ThreadPoolServer (a worker behind a relay)', () => {
  it('a stream served by a worker arrives whole, and a cancel reaches its source', async () => {
    const pool = new ThreadPoolServer(pathToFileURL(join(fixtures, 'stream-pool-service.mjs')), {
      threads: 1,
      host: '127.0.0.1',
      port: 0,
      authenticator: {
        module: pathToFileURL(join(fixtures, 'anonymous-auth.mjs')).href,
        options: { hostKeyPath: join(dir, 'host_key') },
      },
    });
    const address = (await pool.listen()) as { port: number };
    try {
      const knownHosts = KnownHosts.parse('');
      knownHosts.add('127.0.0.1', address.port, hostKey.publicKey);
      const connection = await connect('127.0.0.1', address.port, { knownHosts });
      const api = connection.root as Remote<{
        download(total: number): ReadableStream<Uint8Array>;
        cancelled(): number;
      }>;
      let total = 0;
      let wrong = 0;
      for await (const chunk of await api.download(64 * MiB + 3)) {
        // The marks at every 4096th byte of the stream, wherever the chunks were cut.
        for (let p = Math.ceil(total / 4096) * 4096; p < total + chunk.byteLength; p += 4096)
          if (chunk[p - total] !== ((p / 4096) & 255)) wrong++;
        total += chunk.byteLength;
      }
      expect(total).toBe(64 * MiB + 3);
      expect(wrong).toBe(0);
      const reader = (await api.download(GiB)).getReader();
      await reader.read();
      await reader.cancel();
      await waitFor(async () => (await api.cancelled()) === 1);
      expect(connection.stats().questions).toBe(0);
      connection.close();
    } finally {
      await pool.close(500);
    }
  }, 60_000);
});

async function waitFor(predicate: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await predicate())) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
