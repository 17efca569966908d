import { once } from 'node:events';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  ConnectionClosedError,
  type ConnectionOptions,
  DEFAULT_KEEPALIVE,
  type Remote,
  TimeoutError,
} from '@keyway/core';
import { publicKeyAuth } from '@keyway/secure';
// Pool workers load built JavaScript, so the pool comes from the built package.
import { ThreadPoolServer } from '@keyway/server';
import { afterEach, describe, expect, it } from 'vitest';
import {
  connect,
  type DisconnectEvent,
  type PoolDisconnectEvent,
  ThreadedServer,
  withNetworkDefaults,
} from '../src/index.js';
import { alice, authorizedKeys, hostKey, keyFiles, knownHosts, Lab } from './helpers.js';

/**
 * A TCP relay between a client and a server that can freeze: from `freeze()` on it
 * forwards nothing in either direction while both sockets stay open, as a peer whose
 * process stopped (or a link that died without a FIN or RST) looks from the other end.
 */
class FreezingRelay {
  #frozen = false;
  readonly #listener: Server;
  readonly #sockets: Socket[] = [];

  private constructor(listener: Server) {
    this.#listener = listener;
  }

  static async start(targetPort: number): Promise<{ relay: FreezingRelay; port: number }> {
    const listener = createServer();
    const relay = new FreezingRelay(listener);
    listener.on('connection', (inbound) => relay.#pipe(inbound, targetPort));
    listener.listen(0, '127.0.0.1');
    await once(listener, 'listening');
    const address = listener.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    return { relay, port: address.port };
  }

  freeze(): void {
    this.#frozen = true;
  }

  close(): void {
    for (const socket of this.#sockets) socket.destroy();
    this.#listener.close();
  }

  #pipe(inbound: Socket, targetPort: number): void {
    const outbound = netConnect(targetPort, '127.0.0.1');
    this.#sockets.push(inbound, outbound);
    for (const [from, to] of [
      [inbound, outbound],
      [outbound, inbound],
    ] as const) {
      from.on('data', (chunk) => {
        if (!this.#frozen) to.write(chunk);
      });
      from.on('end', () => to.end());
      from.on('error', () => to.destroy());
    }
  }
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const SHORT: ConnectionOptions = { keepalive: { intervalMs: 50, timeoutMs: 200 } };
const OFF: ConnectionOptions = { keepalive: false };

async function threaded(
  connection: ConnectionOptions,
  extra: Partial<ConstructorParameters<typeof ThreadedServer>[1]> = {},
) {
  const server = new ThreadedServer(Lab, {
    authenticator: publicKeyAuth({ identity: hostKey, authorizedKeys: authorizedKeys(alice) }),
    connection,
    ...extra,
  });
  cleanups.push(() => server.close(0));
  const address = await server.listen();
  if (!('port' in address)) throw new Error('expected a TCP address');
  return { server, port: address.port };
}

async function viaRelay(serverPort: number, connection: ConnectionOptions) {
  const { relay, port } = await FreezingRelay.start(serverPort);
  cleanups.push(() => relay.close());
  // The client checks the host key under the address it dialled: the relay's.
  const conn = await connect('127.0.0.1', port, {
    identity: alice,
    knownHosts: knownHosts(port),
    connection,
  });
  cleanups.push(() => conn.close());
  return { relay, conn };
}

/** Rejects if `promise` has not settled within `ms`, so that a hang fails the test. */
function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still pending after ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

describe('keepalive over the network', () => {
  it('is on by default for network connections, unless turned off', () => {
    expect(withNetworkDefaults(undefined).keepalive).toEqual(DEFAULT_KEEPALIVE);
    expect(withNetworkDefaults({ timeout: 5 })).toEqual({
      timeout: 5,
      keepalive: DEFAULT_KEEPALIVE,
    });
    expect(withNetworkDefaults({ keepalive: false }).keepalive).toBe(false);
    const own = { intervalMs: 1_000, timeoutMs: 3_000 };
    expect(withNetworkDefaults({ keepalive: own }).keepalive).toBe(own);
    expect(DEFAULT_KEEPALIVE).toEqual({ intervalMs: 30_000, timeoutMs: 60_000 });
  });

  it('a ThreadedServer closes the connection of a frozen client with TimeoutError', async () => {
    const { server, port } = await threaded(SHORT);
    const { relay, conn } = await viaRelay(port, OFF);
    expect(await (conn.root as Remote<Lab>).add(1, 2)).toBe(3);
    const disconnected = new Promise<DisconnectEvent>((r) => server.once('disconnect', r));
    relay.freeze();
    const event = await within(disconnected, 5_000);
    expect(event.reason).toBeInstanceOf(TimeoutError);
    expect(server.connections.size).toBe(0);
  });

  it('connect() closes the connection to a frozen server with TimeoutError', async () => {
    const { port } = await threaded(OFF);
    const { relay, conn } = await viaRelay(port, SHORT);
    const lab = conn.root as Remote<Lab>;
    expect(await lab.add(2, 2)).toBe(4);
    relay.freeze();
    const pending = Promise.resolve(lab.sleep(60_000)).catch((e: unknown) => e);
    const reason = await within(conn.closed, 5_000);
    expect(reason).toBeInstanceOf(TimeoutError);
    const failure = await within(pending, 1_000);
    expect(failure).toBeInstanceOf(ConnectionClosedError);
    expect((failure as Error).cause).toBe(reason);
  });

  it('an idle, live connection stays open while both ends probe', async () => {
    const { server, port } = await threaded(SHORT);
    const { conn } = await viaRelay(port, SHORT);
    await new Promise((r) => setTimeout(r, 800));
    expect(conn.isClosed).toBe(false);
    expect(server.connections.size).toBe(1);
    expect(await (conn.root as Remote<Lab>).add(3, 4)).toBe(7);
  });

  it('keepalive probes do not keep an idle connection from idleTimeoutMs', async () => {
    const { port } = await threaded(SHORT, { idleTimeoutMs: 300 });
    const { conn } = await viaRelay(port, SHORT);
    expect(await (conn.root as Remote<Lab>).add(1, 1)).toBe(2);
    const reason = await within(conn.closed, 5_000);
    expect(reason).toBeInstanceOf(Error);
  });

  it("a ThreadPoolServer's worker closes the connection of a frozen client", async () => {
    const files = keyFiles();
    cleanups.push(() => files.cleanup());
    const fixtures = join(import.meta.dirname, 'fixtures');
    const server = new ThreadPoolServer(pathToFileURL(join(fixtures, 'lab-service.mjs')), {
      threads: 1,
      authenticator: {
        module: pathToFileURL(join(fixtures, 'lab-auth.mjs')).href,
        options: { hostKeyPath: files.hostKeyPath, authorizedKeysPath: files.authorizedKeysPath },
      },
      connection: SHORT,
    });
    cleanups.push(() => server.close(0));
    const address = await server.listen();
    const { relay, conn } = await viaRelay((address as { port: number }).port, OFF);
    expect(
      await (conn.root as unknown as { add(a: number, b: number): Promise<number> }).add(1, 1),
    ).toBe(2);
    const disconnected = new Promise<PoolDisconnectEvent>((r) => server.once('disconnect', r));
    relay.freeze();
    const event = await within(disconnected, 5_000);
    expect(event.reason).toMatch(/TimeoutError/);
  });
});
