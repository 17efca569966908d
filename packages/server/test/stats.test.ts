import { once } from 'node:events';
import { connect as netConnect, type Socket } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Connection, Remote } from '@keyway/core';
import { publicKeyAuth } from '@keyway/secure';
// Pool workers load built JavaScript, so the pool comes from the built package.
import { ThreadPoolServer } from '@keyway/server';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, OneShotServer, type ServerStats, ThreadedServer } from '../src/index.js';
import { alice, authorizedKeys, hostKey, keyFiles, knownHosts, Lab, sleep } from './helpers.js';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function login(port: number): Promise<Connection> {
  const conn = await connect('127.0.0.1', port, { identity: alice, knownHosts: knownHosts(port) });
  cleanups.push(() => conn.close());
  return conn;
}

/** A socket that connects and never starts the handshake: it stays "authenticating". */
async function silentSocket(port: number): Promise<Socket> {
  const socket = netConnect(port, '127.0.0.1');
  socket.on('error', () => {});
  await once(socket, 'connect');
  cleanups.push(() => socket.destroy());
  return socket;
}

/** Polls `stats` until `done` holds (bounded), returning the last snapshot. */
async function statsUntil(
  stats: () => Promise<ServerStats>,
  done: (s: ServerStats) => boolean,
): Promise<ServerStats> {
  let last = await stats();
  for (let i = 0; i < 100 && !done(last); i++) {
    await sleep(20);
    last = await stats();
  }
  return last;
}

function threadedServer(Kind: typeof ThreadedServer = ThreadedServer) {
  return new Kind(Lab, {
    authenticator: publicKeyAuth({ identity: hostKey, authorizedKeys: authorizedKeys(alice) }),
    handshakeTimeoutMs: 20_000,
  });
}

describe('server.stats()', () => {
  it('ThreadedServer sums its connections and counts open and authenticating ones', async () => {
    const server = threadedServer();
    cleanups.push(() => server.close(0));
    const { port } = (await server.listen()) as { port: number };
    expect(await server.stats()).toMatchObject({ open: 0, authenticating: 0, exports: 0 });

    const a = await login(port);
    const b = await login(port);
    await silentSocket(port);
    const counter = await (a.root as Remote<Lab>).open('c');
    expect(await counter.increment()).toBe(1);
    const slow = (b.root as Remote<Lab>).sleep(1_000);

    const stats = await statsUntil(
      () => server.stats(),
      (s) => s.serving === 1 && s.authenticating === 1,
    );
    expect(stats).toMatchObject({ open: 2, authenticating: 1, exports: 1, serving: 1 });
    expect(stats.answers).toBeGreaterThanOrEqual(1);
    expect(stats.unreported).toBe(0);
    // The sum is the sum of the connections' own stats.
    const each = [...server.connections].map((c) => c.stats());
    expect(stats.messagesSent).toBe(each.reduce((n, s) => n + s.messagesSent, 0));
    expect(stats.imports).toBe(each.reduce((n, s) => n + s.imports, 0));

    await slow;
    await a.close();
    const after = await statsUntil(
      () => server.stats(),
      (s) => s.open === 1,
    );
    expect(after).toMatchObject({ open: 1, exports: 0, serving: 0 });
  });

  it('OneShotServer reports its one connection', async () => {
    const server = threadedServer(OneShotServer);
    cleanups.push(() => server.close(0));
    const { port } = (await server.listen()) as { port: number };
    const conn = await login(port);
    await (conn.root as Remote<Lab>).open('x');
    expect(await server.stats()).toMatchObject({ open: 1, authenticating: 0, exports: 1 });
  });
});

describe('ThreadPoolServer.stats()', () => {
  async function poolServer(threads: number) {
    const files = keyFiles();
    cleanups.push(() => files.cleanup());
    const fixtures = join(import.meta.dirname, 'fixtures');
    const server = new ThreadPoolServer(pathToFileURL(join(fixtures, 'lab-service.mjs')), {
      threads,
      handshakeTimeoutMs: 20_000,
      authenticator: {
        module: pathToFileURL(join(fixtures, 'lab-auth.mjs')).href,
        options: { hostKeyPath: files.hostKeyPath, authorizedKeysPath: files.authorizedKeysPath },
      },
    });
    cleanups.push(() => server.close(0));
    const { port } = (await server.listen()) as { port: number };
    return { server, port };
  }

  interface PoolLab {
    sleep(ms: number): Promise<number>;
    spin(ms: number): Promise<boolean>;
  }

  it('workers report their connections to the main thread, which sums them', async () => {
    const { server, port } = await poolServer(2);
    expect(await server.stats()).toMatchObject({ open: 0, authenticating: 0, serving: 0 });
    const a = await login(port);
    const b = await login(port);
    await silentSocket(port);
    const slow = (a.root as unknown as PoolLab).sleep(1_000);
    const stats = await statsUntil(
      () => server.stats(),
      (s) => s.serving === 1 && s.authenticating === 1,
    );
    expect(stats).toMatchObject({ open: 2, authenticating: 1, serving: 1, unreported: 0 });
    expect(stats.messagesSent).toBeGreaterThan(0);
    await slow;
    await b.close();
    const after = await statsUntil(
      () => server.stats(),
      (s) => s.open === 1,
    );
    expect(after).toMatchObject({ open: 1, serving: 0 });
  });

  it('a worker too busy to answer leaves its connections unreported, not a hang', async () => {
    const { server, port } = await poolServer(1);
    const a = await login(port);
    await login(port);
    const busy = (a.root as unknown as PoolLab).spin(1_500);
    await sleep(200);
    const started = Date.now();
    const stats = await server.stats({ timeoutMs: 200 });
    expect(Date.now() - started).toBeLessThan(1_200);
    expect(stats).toMatchObject({ open: 0, unreported: 2 });
    await busy;
    expect(await server.stats()).toMatchObject({ open: 2, unreported: 0 });
    await expect(server.stats({ timeoutMs: -1 })).rejects.toThrow(RangeError);
  });
});
