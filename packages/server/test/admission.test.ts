/**
 * Admission control before authentication: per-source caps grouped by network, sshd's
 * MaxStartups random early drop, slots reserved for authenticated connections, and the
 * mode of a Unix socket.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Connection } from '@keyway/core';
import { publicKeyAuth } from '@keyway/secure';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, DEFAULT_MAX_STARTUPS, type RefusedEvent, ThreadedServer } from '../src/index.js';
import { SourceCounter, shouldDropStartup } from '../src/limits.js';
import { alice, authorizedKeys, hostKey, knownHosts, sleep } from './helpers.js';

const servers: ThreadedServer[] = [];
const sockets: Socket[] = [];
const clients: Connection[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(servers.splice(0).map((s) => s.close(0)));
});

async function start(options: Partial<ConstructorParameters<typeof ThreadedServer>[1]> = {}) {
  const server = new ThreadedServer(class Lab {}, {
    authenticator: publicKeyAuth({ identity: hostKey, authorizedKeys: authorizedKeys(alice) }),
    ...options,
  });
  servers.push(server);
  const address = await server.listen();
  if (!('port' in address)) throw new Error('expected a TCP address');
  const refused: RefusedEvent[] = [];
  server.on('refused', (e: RefusedEvent) => refused.push(e));
  return { server, port: address.port, refused };
}

/** A stranger that connects and says nothing: it stays unauthenticated until the deadline. */
async function stranger(port: number): Promise<Socket> {
  const socket = netConnect({ host: '127.0.0.1', port });
  socket.on('error', () => {});
  sockets.push(socket);
  await new Promise((resolve) => socket.once('connect', resolve));
  return socket;
}

/** Waits until the server has handled every accept so far (bounded). */
async function settled(
  server: ThreadedServer,
  admitted: number,
  refused: RefusedEvent[],
  total: number,
) {
  for (let i = 0; i < 200 && server.socketCount + refused.length < total; i++) await sleep(10);
  expect(server.socketCount).toBe(admitted);
}

describe('maxUnauthenticatedPerSource counts networks, not addresses', () => {
  it('groups IPv6 sources by /64', () => {
    const counter = new SourceCounter(2);
    expect(counter.acquire('2001:db8:1:2::1')).toBe(true);
    expect(counter.acquire('2001:db8:1:2:aaaa:bbbb:cccc:dddd')).toBe(true);
    // A third address in the same /64 is the same source.
    expect(counter.acquire('2001:db8:1:2::ffff')).toBe(false);
    // Another /64 is another source.
    expect(counter.acquire('2001:db8:1:3::1')).toBe(true);
    counter.release('2001:db8:1:2::1');
    expect(counter.acquire('2001:db8:1:2::42')).toBe(true);
  });

  it('counts an IPv4-mapped IPv6 address as the IPv4 address', () => {
    const counter = new SourceCounter(1);
    expect(counter.acquire('192.0.2.7')).toBe(true);
    expect(counter.acquire('::ffff:192.0.2.7')).toBe(false);
    counter.release('::ffff:192.0.2.7');
    expect(counter.acquire('192.0.2.7')).toBe(true);
  });

  it('refuses a socket over the cap with reason max-unauthenticated-per-source', async () => {
    const { server, port, refused } = await start({ maxUnauthenticatedPerSource: 2 });
    await stranger(port);
    await stranger(port);
    await stranger(port);
    await settled(server, 2, refused, 3);
    expect(refused).toEqual([
      { remoteAddress: '127.0.0.1', reason: 'max-unauthenticated-per-source' },
    ]);
  });
});

describe('maxStartups: random early drop of unauthenticated connections', () => {
  it("follows sshd's should_drop_connection", () => {
    const never = () => {
      throw new Error('random consulted');
    };
    const ms = DEFAULT_MAX_STARTUPS;
    expect(ms).toEqual({ start: 10, rate: 30, full: 100 });
    expect(shouldDropStartup(9, ms, never)).toBe(false);
    expect(shouldDropStartup(100, ms, never)).toBe(true);
    // At start the drop probability is rate (30%): 0.29 drops, 0.30 does not.
    expect(shouldDropStartup(10, ms, () => 0.29)).toBe(true);
    expect(shouldDropStartup(10, ms, () => 0.3)).toBe(false);
    // Halfway to full it is 65%.
    expect(shouldDropStartup(55, ms, () => 0.64)).toBe(true);
    expect(shouldDropStartup(55, ms, () => 0.65)).toBe(false);
    expect(shouldDropStartup(10, { start: 10, rate: 100, full: 20 }, never)).toBe(true);
  });

  it('drops new strangers by chance from start on, and every one at full', async () => {
    const draws = [0.6, 0.7, 0.8];
    let calls = 0;
    const { server, port, refused } = await start({
      maxUnauthenticatedPerSource: 100,
      maxStartups: { start: 2, rate: 50, full: 4 },
      random: () => draws[calls++] ?? 0,
    });
    // 1, 2: below start. 3: p = 50%, draw 60 → admitted. 4: p = 75%, draw 70 → dropped.
    // 5: p = 75%, draw 80 → admitted. 6: four authenticating = full → dropped, no draw.
    for (let i = 0; i < 6; i++) {
      await stranger(port);
      await settled(server, server.socketCount, refused, i + 1);
    }
    expect(server.socketCount).toBe(4);
    expect(refused.map((r) => r.reason)).toEqual(['max-startups', 'max-startups']);
    expect(calls).toBe(3);
  });

  it('counts only connections still authenticating', async () => {
    const { port, refused } = await start({
      maxStartups: { start: 1, rate: 100, full: 1 },
    });
    // Each login finishes before the next starts, so none is ever dropped.
    for (let i = 0; i < 3; i++) {
      clients.push(
        await connect('127.0.0.1', port, { identity: alice, knownHosts: knownHosts(port) }),
      );
    }
    expect(refused).toEqual([]);
  });

  it('checks maxStartups', () => {
    const authenticator = publicKeyAuth({
      identity: hostKey,
      authorizedKeys: authorizedKeys(alice),
    });
    for (const bad of [
      { start: 0, rate: 30, full: 100 },
      { start: 20, rate: 30, full: 10 },
      { start: 10, rate: 0, full: 100 },
      { start: 10, rate: 101, full: 100 },
      { start: 1.5, rate: 30, full: 100 },
    ]) {
      expect(() => new ThreadedServer(class {}, { authenticator, maxStartups: bad })).toThrow(
        RangeError,
      );
    }
  });
});

describe('slots reserved for authenticated connections', () => {
  it('strangers never take the last reservedForAuthenticated slots', async () => {
    const { server, port, refused } = await start({
      maxConnections: 4,
      reservedForAuthenticated: 2,
      maxStartups: { start: 10, rate: 30, full: 100 },
    });
    await stranger(port);
    await stranger(port);
    await stranger(port);
    await settled(server, 2, refused, 3);
    expect(refused).toEqual([{ remoteAddress: '127.0.0.1', reason: 'max-connections' }]);
  });

  it('authenticated connections use every slot', async () => {
    const { server, port, refused } = await start({
      maxConnections: 4,
      reservedForAuthenticated: 2,
    });
    for (let i = 0; i < 4; i++) {
      clients.push(
        await connect('127.0.0.1', port, { identity: alice, knownHosts: knownHosts(port) }),
      );
    }
    for (let i = 0; i < 200 && server.connections.size < 4; i++) await sleep(10);
    expect(server.connections.size).toBe(4);
    await stranger(port);
    await settled(server, 4, refused, 5);
    expect(refused).toEqual([{ remoteAddress: '127.0.0.1', reason: 'max-connections' }]);
  });

  it('defaults to a tenth of maxConnections and checks the value', () => {
    const authenticator = publicKeyAuth({
      identity: hostKey,
      authorizedKeys: authorizedKeys(alice),
    });
    expect(() => new ThreadedServer(class {}, { authenticator, maxConnections: 1 })).not.toThrow();
    for (const bad of [-1, 1.5, 4]) {
      expect(
        () =>
          new ThreadedServer(class {}, {
            authenticator,
            maxConnections: 4,
            reservedForAuthenticated: bad,
          }),
      ).toThrow(RangeError);
    }
  });
});

describe('socketMode', () => {
  it('sets the Unix socket mode explicitly: 0600 by default, whatever the umask', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyway-mode-'));
    try {
      const authenticator = publicKeyAuth({
        identity: hostKey,
        authorizedKeys: authorizedKeys(alice),
      });
      const plain = new ThreadedServer(class {}, { path: join(dir, 'a.sock'), authenticator });
      servers.push(plain);
      await plain.listen();
      expect(statSync(join(dir, 'a.sock')).mode & 0o777).toBe(0o600);
      const shared = new ThreadedServer(class {}, {
        path: join(dir, 'b.sock'),
        socketMode: 0o660,
        authenticator,
      });
      servers.push(shared);
      await shared.listen();
      expect(statSync(join(dir, 'b.sock')).mode & 0o777).toBe(0o660);
      expect(
        () =>
          new ThreadedServer(class {}, {
            path: join(dir, 'c.sock'),
            socketMode: 0o1777,
            authenticator,
          }),
      ).toThrow(RangeError);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
