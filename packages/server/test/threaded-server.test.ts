import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Connection, ConnectionClosedError, type Remote, TimeoutError } from '@keyway/core';
import {
  AuthenticationError,
  compose,
  generateIdentity,
  HostKeyError,
  ipAllowlist,
  publicKeyAuth,
} from '@keyway/secure';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type AuthenticatedEvent,
  type AuthFailureEvent,
  ConnectionRefusedError,
  connect,
  OneShotServer,
  ThreadedServer,
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

type LabApi = Remote<Lab>;
const servers: { close(graceMs?: number): Promise<void> }[] = [];
const clients: Connection[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(servers.splice(0).map((s) => s.close(0)));
});

async function start(options: Partial<ConstructorParameters<typeof ThreadedServer>[1]> = {}) {
  const server = new ThreadedServer(Lab, {
    authenticator: publicKeyAuth({ identity: hostKey, authorizedKeys: authorizedKeys(alice) }),
    ...options,
  });
  servers.push(server);
  const address = await server.listen();
  if (!('port' in address)) throw new Error('expected a TCP address');
  return { server, port: address.port };
}

async function login(port: number, identity = alice) {
  const conn = await connect('127.0.0.1', port, { identity, knownHosts: knownHosts(port) });
  clients.push(conn);
  return conn;
}

describe('ThreadedServer and connect()', () => {
  it('serves a service over an authenticated encrypted connection', async () => {
    const { port } = await start();
    const conn = await login(port);
    const lab = conn.root as LabApi;
    expect(await lab.add(1, 2)).toBe(3);
    const counter = lab.open('x');
    expect(await counter.increment()).toBe(1);
    expect(await counter.increment()).toBe(2);
    expect(await lab.whoami()).toMatchObject({
      publicKey: { fingerprint: alice.fingerprint, comment: 'alice@lab' },
      methods: ['publickey'],
    });
  });

  it('gives the service the credentials, so it can refuse a method to a user', async () => {
    const other = generateIdentity('bob@lab');
    const { port } = await start({
      authenticator: publicKeyAuth({
        identity: hostKey,
        authorizedKeys: authorizedKeys(alice, other),
      }),
    });
    const asAlice = (await login(port)).root as LabApi;
    const asBob = (await login(port, other)).root as LabApi;
    expect(await asAlice.secret()).toBe(42);
    await expect(asBob.secret()).rejects.toThrow('only alice may read the secret');
  });

  it('50 clients each waiting 1 s on the server all finish together', async () => {
    // Fifty clients log in at once from one address: no per-source cap or early drop.
    const { port } = await start({
      maxUnauthenticatedPerSource: 64,
      maxStartups: { start: 64, rate: 30, full: 100 },
    });
    const conns = await Promise.all(Array.from({ length: 50 }, () => login(port)));
    const started = Date.now();
    const results = await Promise.all(conns.map((c) => (c.root as LabApi).sleep(1000)));
    const elapsed = Date.now() - started;
    expect(results).toEqual(Array(50).fill(1000));
    // Served one after another they would take 50 s.
    expect(elapsed).toBeLessThan(2000);
  });

  it('refuses an untrusted key before any RPC byte: no service instance is made', async () => {
    const before = Lab.instances;
    const failures: AuthFailureEvent[] = [];
    const { server, port } = await start();
    server.on('authFailure', (e: AuthFailureEvent) => failures.push(e));
    await expect(login(port, mallory)).rejects.toThrow(AuthenticationError);
    await sleep(50);
    expect(Lab.instances).toBe(before);
    const refusal = failures[0]?.error;
    expect(refusal).toBeInstanceOf(AuthenticationError);
    expect((refusal as AuthenticationError).reason).toContain('key not authorized');
  });

  it('a strict client refuses a changed host key, and says how to fix it', async () => {
    const { port } = await start();
    const attempt = connect('127.0.0.1', port, {
      identity: alice,
      knownHosts: knownHosts(port, generateIdentity()),
    });
    await expect(attempt).rejects.toThrow(HostKeyError);
    await expect(attempt).rejects.toThrow(`keyway known-hosts remove [127.0.0.1]:${port}`);
  });

  it('a stalled handshake times out while other clients connect and call', async () => {
    const { server, port } = await start({ handshakeTimeoutMs: 300 });
    const stalled: Socket = netConnect({ host: '127.0.0.1', port });
    stalled.on('error', () => {});
    const stalledClosed = new Promise((r) => stalled.once('close', r));
    const failures: AuthFailureEvent[] = [];
    server.on('authFailure', (e: AuthFailureEvent) => failures.push(e));
    const lab = (await login(port)).root as LabApi;
    expect(await lab.add(2, 2)).toBe(4);
    await stalledClosed;
    expect(failures).toHaveLength(1);
  });

  it('close() lets in-flight calls finish within the grace period, then rejects the rest', async () => {
    const { server, port } = await start();
    const conns = await Promise.all(Array.from({ length: 10 }, () => login(port)));
    const quick = conns.map((c) => (c.root as LabApi).sleep(50));
    const slow = conns.map((c) => (c.root as LabApi).sleep(10_000));
    await sleep(20);
    await server.close(300);
    const quickResults = await Promise.allSettled(quick);
    const slowResults = await Promise.allSettled(slow);
    expect(quickResults.every((r) => r.status === 'fulfilled')).toBe(true);
    for (const r of slowResults) {
      expect(r.status).toBe('rejected');
      expect((r as PromiseRejectedResult).reason).toBeInstanceOf(ConnectionClosedError);
    }
    await expect(login(port)).rejects.toThrow(ConnectionRefusedError);
  });

  it('a killed client leaves no exported objects behind on the server', async () => {
    const { server, port } = await start();
    const files = keyFiles();
    try {
      const keyPath = join(files.dir, 'id_alice');
      writeFileSync(keyPath, alice.toOpenSSH().privateKey, { mode: 0o600 });
      const knownHostsPath = join(files.dir, 'known_hosts');
      writeFileSync(knownHostsPath, knownHosts(port).toString(), { mode: 0o600 });
      const authenticated = new Promise<AuthenticatedEvent>((r) => server.once('authenticated', r));
      const child = spawn(
        process.execPath,
        [
          join(import.meta.dirname, 'fixtures', 'holding-client.mjs'),
          String(port),
          keyPath,
          knownHostsPath,
        ],
        {
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      );
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
        child.once('exit', (code) => reject(new Error(`client exited early (${code})`)));
      });
      const serverSide = (await authenticated).connection;
      expect(serverSide.stats().exports).toBe(20);
      child.kill('SIGKILL');
      await serverSide.closed;
      expect(serverSide.stats().exports).toBe(0);
      expect(server.connections.size).toBe(0);
    } finally {
      files.cleanup();
    }
  });

  it("the seed's example: an IP allow-list composed in front of public-key auth", async () => {
    const authenticator = compose(
      ipAllowlist(['127.0.0.0/8', '::1/128']),
      publicKeyAuth({ identity: hostKey, authorizedKeys: authorizedKeys(alice) }),
    );
    const { port } = await start({ authenticator });
    const lab = (await login(port)).root as LabApi;
    expect(await lab.whoami()).toMatchObject({ methods: ['ip', 'publickey'] });
    const { port: closedPort } = await start({
      authenticator: compose(
        ipAllowlist(['10.0.0.0/8']),
        publicKeyAuth({ identity: hostKey, authorizedKeys: authorizedKeys(alice) }),
      ),
    });
    await expect(login(closedPort)).rejects.toThrow();
  });

  it('reports each connection opened, authenticated and closed, with credentials and reason', async () => {
    const { server, port } = await start();
    const events: string[] = [];
    server.on('connection', (e: { remoteAddress: string }) =>
      events.push(`connection ${e.remoteAddress}`),
    );
    server.on('authenticated', (e: AuthenticatedEvent) =>
      events.push(`authenticated ${(e.credentials.publicKey as { comment: string }).comment}`),
    );
    const disconnected = new Promise<void>((resolve) =>
      server.on('disconnect', (e: { credentials: { methods: string[] } }) => {
        events.push(`disconnect ${e.credentials.methods.join('+')}`);
        resolve();
      }),
    );
    const authenticated = new Promise((resolve) => server.once('authenticated', resolve));
    const conn = await login(port);
    await authenticated;
    await conn.close();
    await disconnected;
    expect(events).toEqual([
      'connection 127.0.0.1',
      'authenticated alice@lab',
      'disconnect publickey',
    ]);
  });

  it('reports one disconnect per connection, one closed from the authenticated event included', async () => {
    const { server, port } = await start();
    const disconnects: (Error | undefined)[] = [];
    let closeNext = true;
    server.on('authenticated', (e: AuthenticatedEvent) => {
      // The first one is closed before the server has finished admitting it.
      if (closeNext) {
        closeNext = false;
        void e.connection.close();
      }
    });
    server.on('disconnect', (e: { reason?: Error }) => disconnects.push(e.reason));
    const first = await connect('127.0.0.1', port, {
      identity: alice,
      knownHosts: knownHosts(port),
    });
    await first.closed;
    const others = await Promise.all([login(port), login(port), login(port)]);
    const deadline = Date.now() + 5000;
    while (server.connections.size < 3 && Date.now() < deadline) await sleep(10);
    expect(server.connections.size).toBe(3);
    expect(disconnects).toHaveLength(1);
    await Promise.all(others.map((c) => c.close()));
    while (disconnects.length < 4 && Date.now() < deadline) await sleep(10);
    await sleep(50);
    expect(disconnects).toHaveLength(4);
    expect(server.connections.size).toBe(0);
  });

  it('checks its limits: zero is "off" only for the idle timeout and the close grace', () => {
    const authenticator = publicKeyAuth({
      identity: hostKey,
      authorizedKeys: authorizedKeys(alice),
    });
    for (const bad of [
      { maxConnections: 0 },
      { handshakeTimeoutMs: 0 },
      { maxBufferedBytes: -1 },
      { port: 70_000 },
    ]) {
      expect(() => new ThreadedServer(Lab, { authenticator, ...bad })).toThrow(RangeError);
    }
    expect(
      () => new ThreadedServer(Lab, { authenticator, idleTimeoutMs: 0, closeGraceMs: 0 }),
    ).not.toThrow();
  });

  it('turns away sockets over maxConnections', async () => {
    const { server, port } = await start({ maxConnections: 1 });
    const refused: unknown[] = [];
    server.on('refused', (e) => refused.push(e));
    await login(port);
    await expect(login(port)).rejects.toThrow();
    expect(refused).toEqual([{ remoteAddress: '127.0.0.1', reason: 'max-connections' }]);
  });

  it('closes idle connections after idleTimeoutMs', async () => {
    const { port } = await start({ idleTimeoutMs: 200 });
    const conn = await login(port);
    expect(await (conn.root as LabApi).add(1, 1)).toBe(2);
    const reason = await conn.closed;
    expect(reason).toBeInstanceOf(Error);
  });

  it('serves on a Unix domain socket', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyway-sock-'));
    try {
      const path = join(dir, 'lab.sock');
      const server = new ThreadedServer(Lab, {
        path,
        authenticator: publicKeyAuth({ identity: hostKey, authorizedKeys: authorizedKeys(alice) }),
      });
      servers.push(server);
      expect(await server.listen()).toEqual({ path });
      const known = knownHosts(22);
      known.add(path, 22, hostKey.publicKey);
      const conn = await connect(path, { identity: alice, knownHosts: known });
      clients.push(conn);
      expect(await (conn.root as LabApi).add(20, 22)).toBe(42);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('connect() errors', () => {
  it('connection refused is its own error, naming the address', async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as { port: number }).port;
    await new Promise((r) => probe.close(r));
    const attempt = connect('127.0.0.1', port, { identity: alice, knownHosts: knownHosts(port) });
    await expect(attempt).rejects.toThrow(ConnectionRefusedError);
    await expect(attempt).rejects.toThrow(`127.0.0.1:${port}`);
  });

  it('a server that never answers gives a TimeoutError', async () => {
    const silent = createServer((s) => s.on('error', () => {}));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as { port: number }).port;
    try {
      const attempt = connect('127.0.0.1', port, {
        identity: alice,
        knownHosts: knownHosts(port),
        timeout: 200,
      });
      await expect(attempt).rejects.toThrow(TimeoutError);
    } finally {
      silent.close();
    }
  });

  it('an aborted signal cancels the attempt', async () => {
    const { port } = await start();
    const controller = new AbortController();
    controller.abort(new Error('user gave up'));
    await expect(
      connect('127.0.0.1', port, {
        identity: alice,
        knownHosts: knownHosts(port),
        signal: controller.signal,
      }),
    ).rejects.toThrow('user gave up');
  });
});

describe('OneShotServer', () => {
  it('serves exactly one connection, then stops listening', async () => {
    const server = new OneShotServer(Lab, {
      authenticator: publicKeyAuth({ identity: hostKey, authorizedKeys: authorizedKeys(alice) }),
    });
    servers.push(server);
    const address = await server.listen();
    const port = (address as { port: number }).port;
    const conn = await connect('127.0.0.1', port, {
      identity: alice,
      knownHosts: knownHosts(port),
    });
    expect(await (conn.root as LabApi).add(3, 4)).toBe(7);
    await expect(login(port)).rejects.toThrow(ConnectionRefusedError);
    await conn.close();
    await server.done;
  });
});
