/**
 * OneShotServer gives its one slot to the first connection that authenticates: strangers
 * that connect and leave, or fail authentication, neither end the server nor take the
 * slot, and the wait is bounded by acceptTimeoutMs.
 */
import { connect as netConnect } from 'node:net';
import { type Connection, type Remote, TimeoutError } from '@keyway/core';
import { AuthenticationError, publicKeyAuth } from '@keyway/secure';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ConnectionRefusedError,
  connect,
  DEFAULT_ACCEPT_TIMEOUT_MS,
  OneShotServer,
} from '../src/index.js';
import { alice, authorizedKeys, hostKey, knownHosts, Lab, mallory, sleep } from './helpers.js';

const servers: OneShotServer[] = [];
const clients: Connection[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(servers.splice(0).map((s) => s.close(0)));
});

async function start(acceptTimeoutMs?: number) {
  const server = new OneShotServer(Lab, {
    authenticator: publicKeyAuth({ identity: hostKey, authorizedKeys: authorizedKeys(alice) }),
    ...(acceptTimeoutMs !== undefined && { acceptTimeoutMs }),
  });
  servers.push(server);
  const address = await server.listen();
  if (!('port' in address)) throw new Error('expected a TCP address');
  let finished = false;
  server.done.then(
    () => (finished = true),
    () => (finished = true),
  );
  return { server, port: address.port, finished: () => finished };
}

async function login(port: number, identity = alice) {
  const conn = await connect('127.0.0.1', port, { identity, knownHosts: knownHosts(port) });
  clients.push(conn);
  return conn;
}

describe('OneShotServer', () => {
  it('a stranger that connects and disconnects does not take the slot', async () => {
    const { port, finished } = await start();
    const stranger = netConnect({ host: '127.0.0.1', port });
    stranger.on('error', () => {});
    await new Promise((resolve) => stranger.once('connect', resolve));
    stranger.destroy();
    await sleep(100);
    expect(finished()).toBe(false);
    const conn = await login(port);
    expect(await (conn.root as Remote<Lab>).add(3, 4)).toBe(7);
  });

  it('a client that fails authentication is refused, and the real client still gets in', async () => {
    const { server, port, finished } = await start();
    await expect(login(port, mallory)).rejects.toThrow(AuthenticationError);
    await sleep(50);
    expect(finished()).toBe(false);
    const conn = await login(port);
    expect(await (conn.root as Remote<Lab>).add(1, 1)).toBe(2);
    // The slot is taken: the server no longer listens.
    await expect(login(port)).rejects.toThrow(ConnectionRefusedError);
    await conn.close();
    await server.done;
  });

  it('a connection still authenticating when the slot is taken hears an auth failure', async () => {
    const { port } = await start();
    // Both handshakes run at once; exactly one wins.
    const results = await Promise.allSettled([login(port), login(port)]);
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r) => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    const reason = (lost[0] as PromiseRejectedResult).reason;
    // Either refused at the verdict, or (if the winner was already through) at connect.
    expect(reason instanceof AuthenticationError || reason instanceof ConnectionRefusedError).toBe(
      true,
    );
  });

  it('stops waiting after acceptTimeoutMs: done rejects with TimeoutError', async () => {
    expect(DEFAULT_ACCEPT_TIMEOUT_MS).toBe(300_000);
    const { server, port } = await start(200);
    await expect(login(port, mallory)).rejects.toThrow(AuthenticationError);
    await expect(server.done).rejects.toBeInstanceOf(TimeoutError);
    await expect(login(port)).rejects.toThrow(ConnectionRefusedError);
    expect(
      () =>
        new OneShotServer(Lab, { authenticator: async () => ({}) as never, acceptTimeoutMs: 0 }),
    ).toThrow(RangeError);
  });

  it('close() before anyone arrived resolves done', async () => {
    const { server } = await start();
    await server.close();
    await server.done;
  });
});
