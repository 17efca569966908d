/**
 * The WebSocket transport from Node with a `ws` client: the same server serves TCP and
 * WebSocket at once, key login works over both, a browser origin not listed is refused
 * before the upgrade, and an oversize message closes only its own connection.
 */
import { createServer } from 'node:http';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Connection, Remote } from '@keyway/core';
import { AuthenticationError, HostKeyError, publicKeyAuth } from '@keyway/secure';
// Workers load built JavaScript, so the pool is the built package's.
import { ThreadPoolServer as BuiltThreadPoolServer } from '@keyway/server';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import {
  ConnectionRefusedError,
  connect,
  connectWebSocket,
  type RefusedEvent,
  ThreadedServer,
  WEBSOCKET_MESSAGE_BYTES,
} from '../src/index.js';
import {
  alice,
  authorizedKeys,
  hostKey,
  keyFiles,
  knownHosts,
  Lab,
  mallory,
  sleep,
} from './helpers.js';

const fixtures = join(import.meta.dirname, 'fixtures');

type LabApi = Remote<Lab>;
const servers: { close(graceMs?: number): Promise<void> }[] = [];
const clients: Connection[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(servers.splice(0).map((s) => s.close(0)));
});

async function start(websocket: ConstructorParameters<typeof ThreadedServer>[1]['websocket'] = {}) {
  const server = new ThreadedServer(Lab, {
    authenticator: publicKeyAuth({ identity: hostKey, authorizedKeys: authorizedKeys(alice) }),
    websocket,
  });
  servers.push(server);
  const tcp = await server.listen();
  const ws = server.websocketAddress;
  if (!('port' in tcp) || !ws) throw new Error('expected TCP and WebSocket addresses');
  return { server, tcpPort: tcp.port, wsPort: ws.port };
}

async function wsLogin(port: number, path = '', identity = alice, origin?: string) {
  const conn = await connectWebSocket(`ws://127.0.0.1:${port}${path}`, {
    identity,
    knownHosts: knownHosts(port),
    ...(origin !== undefined && { origin }),
  });
  clients.push(conn);
  return conn;
}

describe('WebSocket transport', () => {
  it('serves key login over TCP and WebSocket at once', async () => {
    const { server, tcpPort, wsPort } = await start();
    const overWs = await wsLogin(wsPort);
    const overTcp = await connect('127.0.0.1', tcpPort, {
      identity: alice,
      knownHosts: knownHosts(tcpPort),
    });
    clients.push(overTcp);
    expect(await (overWs.root as LabApi).add(2, 3)).toBe(5);
    expect(await (overTcp.root as LabApi).add(4, 5)).toBe(9);
    const counter = await (overWs.root as LabApi).open('c');
    expect(await counter.increment()).toBe(1);
    expect(server.connections.size).toBe(2);
  });

  it('refuses an unknown client key and a changed host key over WebSocket', async () => {
    const { wsPort } = await start();
    await expect(wsLogin(wsPort, '', mallory)).rejects.toBeInstanceOf(AuthenticationError);
    await expect(
      connectWebSocket(`ws://127.0.0.1:${wsPort}`, {
        identity: alice,
        knownHosts: knownHosts(wsPort, mallory),
      }),
    ).rejects.toBeInstanceOf(HostKeyError);
  });

  it('carries large messages split into WebSocket messages of at most 64 KiB', async () => {
    const { wsPort } = await start();
    const conn = await wsLogin(wsPort);
    const echo = (await (conn.root as LabApi).add('x'.repeat(300_000) as never, 'y' as never)) as
      | string
      | number;
    expect(echo).toHaveLength(300_001);
  });

  it('accepts only the configured path', async () => {
    const { wsPort } = await start({ path: '/keyway' });
    expect(await ((await wsLogin(wsPort, '/keyway')).root as LabApi).add(1, 1)).toBe(2);
    await expect(wsLogin(wsPort, '/other')).rejects.toBeInstanceOf(ConnectionRefusedError);
  });

  it('refuses a browser origin not listed, before the upgrade, and accepts a listed one', async () => {
    const { server, wsPort } = await start({ allowedOrigins: ['http://good.test'] });
    const refused: RefusedEvent[] = [];
    server.on('refused', (e: RefusedEvent) => refused.push(e));
    await expect(wsLogin(wsPort, '', alice, 'http://evil.test')).rejects.toBeInstanceOf(
      ConnectionRefusedError,
    );
    expect(refused).toEqual([{ remoteAddress: '127.0.0.1', reason: 'origin' }]);
    const conn = await wsLogin(wsPort, '', alice, 'http://good.test');
    expect(await (conn.root as LabApi).add(1, 2)).toBe(3);
  });

  it('refuses every browser origin by default', async () => {
    const { wsPort } = await start();
    await expect(wsLogin(wsPort, '', alice, 'http://127.0.0.1:1')).rejects.toBeInstanceOf(
      ConnectionRefusedError,
    );
  });

  it('closes only the connection that sends an oversize message, before authentication', async () => {
    const { server, wsPort } = await start();
    const good = await wsLogin(wsPort);
    const raw = new WebSocket(`ws://127.0.0.1:${wsPort}`);
    await new Promise((resolve, reject) => {
      raw.once('open', resolve);
      raw.once('error', reject);
    });
    const closed = new Promise<number>((resolve) => raw.once('close', (code) => resolve(code)));
    raw.send(new Uint8Array(WEBSOCKET_MESSAGE_BYTES + 1));
    expect(await closed).toBe(1009);
    expect(await (good.root as LabApi).add(20, 22)).toBe(42);
    expect(server.connections.size).toBe(1);
    // The refused stream gave back its unauthenticated slot.
    for (let i = 0; i < 50 && server.unauthenticatedCount > 0; i++) await sleep(20);
    expect(server.unauthenticatedCount).toBe(0);
  });

  it('closes a connection that sends a text message', async () => {
    const { server, wsPort } = await start();
    const raw = new WebSocket(`ws://127.0.0.1:${wsPort}`);
    await new Promise((resolve, reject) => {
      raw.once('open', resolve);
      raw.once('error', reject);
    });
    const closed = new Promise<void>((resolve) => raw.once('close', () => resolve()));
    raw.send('hello');
    await closed;
    for (let i = 0; i < 50 && server.socketCount > 0; i++) await sleep(20);
    expect(server.socketCount).toBe(0);
  });

  it('attaches to an HTTP server the application owns', async () => {
    const http = createServer((_req, res) => res.end('page'));
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    try {
      const server = new ThreadedServer(Lab, {
        authenticator: publicKeyAuth({ identity: hostKey, authorizedKeys: authorizedKeys(alice) }),
        websocket: { server: http, path: '/rpc' },
      });
      servers.push(server);
      await server.listen();
      const address = http.address();
      if (!address || typeof address === 'string') throw new Error('no port');
      const conn = await wsLogin(address.port, '/rpc');
      expect(await (conn.root as LabApi).add(3, 4)).toBe(7);
      const page = await fetch(`http://127.0.0.1:${address.port}/`);
      expect(await page.text()).toBe('page');
    } finally {
      await Promise.all(clients.splice(0).map((c) => c.close()));
      await Promise.all(servers.splice(0).map((s) => s.close(0)));
      await new Promise((resolve) => http.close(resolve));
    }
  });

  it('serves WebSocket connections from a ThreadPoolServer', async () => {
    const files = keyFiles();
    const pool = new BuiltThreadPoolServer(pathToFileURL(join(fixtures, 'lab-service.mjs')), {
      threads: 1,
      authenticator: {
        module: pathToFileURL(join(fixtures, 'lab-auth.mjs')).href,
        options: { hostKeyPath: files.hostKeyPath, authorizedKeysPath: files.authorizedKeysPath },
      },
      websocket: {},
    });
    try {
      await pool.listen();
      const port = pool.websocketAddress?.port;
      if (port === undefined) throw new Error('no WebSocket address');
      const conn = await wsLogin(port);
      expect(await (conn.root as LabApi).add(1, 2)).toBe(3);
      await conn.close();
    } finally {
      await pool.close(0);
      files.cleanup();
    }
  });

  it('validates its options', () => {
    const authenticator = publicKeyAuth({ identity: hostKey, authorizedKeys: authorizedKeys() });
    expect(() => new ThreadedServer(Lab, { authenticator, websocket: { maxPayload: 10 } })).toThrow(
      RangeError,
    );
    expect(
      () => new ThreadedServer(Lab, { authenticator, websocket: { path: 'no-slash' } }),
    ).toThrow(TypeError);
    expect(
      () =>
        new ThreadedServer(Lab, {
          authenticator,
          websocket: { allowedOrigins: 'http://x' as never },
        }),
    ).toThrow(TypeError);
  });
});
