/**
 * ProcessPoolServer: real worker processes that own their sockets, with the primary as
 * the one arbiter of admission (per-source, MaxStartups, the login limiter).
 */
import { once } from 'node:events';
import { type Socket, connect as tcpConnect } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type Connection, ConnectionClosedError } from '@keyway/core';
import { AuthenticationError, loadIdentity, opaqueServerFor, PasswordFile } from '@keyway/secure';
// Workers load built JavaScript, so this suite drives the built package.
import {
  connect,
  type PoolDisconnectEvent,
  ProcessPoolServer,
  type ProcessPoolServerOptions,
  type RefusedEvent,
} from '@keyway/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alice, keyFiles, knownHosts, mallory, sleep } from './helpers.js';

interface LabApi {
  add(a: number, b: number): Promise<number>;
  sleep(ms: number): Promise<number>;
  spin(ms: number): Promise<boolean>;
  pid(): Promise<number>;
  whoami(): Promise<unknown>;
}

const fixtures = join(import.meta.dirname, 'fixtures');
const files = keyFiles();
afterAll(files.cleanup);

function labServer(options: Partial<ProcessPoolServerOptions> = {}): ProcessPoolServer {
  return new ProcessPoolServer(pathToFileURL(join(fixtures, 'lab-service.mjs')), {
    workers: 2,
    authenticator: {
      module: pathToFileURL(join(fixtures, 'lab-auth.mjs')).href,
      options: { hostKeyPath: files.hostKeyPath, authorizedKeysPath: files.authorizedKeysPath },
    },
    ...options,
  });
}

async function until(done: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done() && Date.now() < deadline) await sleep(20);
}

describe('ProcessPoolServer', () => {
  let server: ProcessPoolServer;
  let port: number;
  const opened: Connection[] = [];

  async function login(identity = alice): Promise<{ conn: Connection; lab: LabApi }> {
    const conn = await connect('127.0.0.1', port, {
      identity,
      knownHosts: knownHosts(port),
      timeout: 30_000,
    });
    opened.push(conn);
    return { conn, lab: conn.root as unknown as LabApi };
  }

  /** A connection served by a worker other than `pid`'s. */
  async function loginElsewhere(pid: number): Promise<{ conn: Connection; lab: LabApi }> {
    for (let i = 0; i < 10; i++) {
      const candidate = await login();
      if ((await candidate.lab.pid()) !== pid) return candidate;
    }
    throw new Error('no connection landed on a second worker');
  }

  beforeAll(async () => {
    server = labServer({
      maxUnauthenticatedPerSource: 64,
      maxStartups: { start: 64, rate: 30, full: 100 },
    });
    port = ((await server.listen()) as { port: number }).port;
  }, 60_000);

  afterAll(async () => {
    await Promise.all(opened.map((c) => c.close()));
    await server.close(0);
  });

  it('serves calls from worker processes, with the credentials the worker established', async () => {
    const { lab } = await login();
    expect(await lab.add(40, 2)).toBe(42);
    const pid = await lab.pid();
    expect(pid).not.toBe(process.pid);
    expect(server.workerPids).toContain(pid);
    expect(await lab.whoami()).toMatchObject({ publicKey: { fingerprint: alice.fingerprint } });
    const stats = await server.stats();
    expect(stats.open).toBeGreaterThanOrEqual(1);
    expect(stats.unreported).toBe(0);
  });

  it('refuses an untrusted key, and reports the failure', async () => {
    const disconnects: PoolDisconnectEvent[] = [];
    const onDisconnect = (e: PoolDisconnectEvent) => disconnects.push(e);
    server.on('disconnect', onDisconnect);
    await expect(login(mallory)).rejects.toThrow(AuthenticationError);
    await until(() => disconnects.some((e) => !e.authenticated));
    server.off('disconnect', onDisconnect);
    expect(disconnects.find((e) => !e.authenticated)?.reason).toMatch(
      /not authorized|unknown key|key/i,
    );
  });

  it('a CPU-heavy call on one worker does not stall calls on the other', async () => {
    const busy = await login();
    const other = await loginElsewhere(await busy.lab.pid());
    const spinning = busy.lab.spin(1500);
    const started = Date.now();
    let calls = 0;
    while (Date.now() - started < 1000 && calls < 10_000) {
      expect(await other.lab.add(calls, 1)).toBe(calls + 1);
      calls++;
    }
    expect(calls).toBeGreaterThan(10);
    expect(await spinning).toBe(true);
  });

  it('a killed worker fails only its connections, and is replaced', async () => {
    const victim = await login();
    const victimPid = await victim.lab.pid();
    const survivor = await loginElsewhere(victimPid);
    const disconnects: PoolDisconnectEvent[] = [];
    server.on('disconnect', (e: PoolDisconnectEvent) => disconnects.push(e));
    const pending = victim.lab.sleep(10_000);
    process.kill(victimPid, 'SIGKILL');
    await victim.conn.closed.catch(() => undefined);
    await expect(pending).rejects.toBeInstanceOf(ConnectionClosedError);
    expect(await survivor.lab.add(1, 1)).toBe(2);
    await until(() => server.workers === 2 && !server.workerPids.includes(victimPid));
    expect(server.workers).toBe(2);
    expect(server.workerPids).not.toContain(victimPid);
    expect(disconnects.some((e) => e.reason?.includes('worker failed'))).toBe(true);
    const fresh = await login();
    expect(await fresh.lab.add(2, 3)).toBe(5);
  });
});

describe('ProcessPoolServer close()', () => {
  it('lets calls in flight finish, then closes the connections and stops the workers', async () => {
    const server = labServer();
    const { port } = (await server.listen()) as { port: number };
    const conns = await Promise.all(
      [0, 1, 2, 3].map(() =>
        connect('127.0.0.1', port, { identity: alice, knownHosts: knownHosts(port) }),
      ),
    );
    const labs = conns.map((c) => c.root as unknown as LabApi);
    const pids = new Set(await Promise.all(labs.map((l) => l.pid())));
    expect(pids.size).toBe(2);
    const inFlight = labs.map((l) => l.sleep(400));
    await sleep(50);
    await server.close(5_000);
    expect(await Promise.all(inFlight)).toEqual([400, 400, 400, 400]);
    for (const conn of conns) await conn.closed.catch(() => undefined);
    expect(server.socketCount).toBe(0);
    expect(server.workers).toBe(0);
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
  }, 30_000);
});

describe('ProcessPoolServer start', () => {
  it('listen() rejects when a worker cannot load the service, and leaves no worker running', async () => {
    const server = new ProcessPoolServer(pathToFileURL(join(fixtures, 'no-such-service.mjs')), {
      workers: 2,
      authenticator: { module: pathToFileURL(join(fixtures, 'lab-auth.mjs')).href },
    });
    await expect(server.listen()).rejects.toThrow(/worker failed to start/);
    expect(server.workers).toBe(0);
    expect(server.address).toBeUndefined();
  }, 60_000);

  it('checks its options', () => {
    const authenticator = { module: pathToFileURL(join(fixtures, 'lab-auth.mjs')).href };
    expect(() => new ProcessPoolServer('x.mjs', { authenticator, workers: 0 })).toThrow(RangeError);
    expect(() => new ProcessPoolServer('x.mjs', { authenticator, startTimeoutMs: 0 })).toThrow(
      RangeError,
    );
    expect(() => new ProcessPoolServer('x.mjs', {} as unknown as ProcessPoolServerOptions)).toThrow(
      TypeError,
    );
  });
});

describe('ProcessPoolServer admission across workers', () => {
  async function rawSockets(port: number, n: number): Promise<Socket[]> {
    return Promise.all(
      Array.from({ length: n }, async () => {
        const socket = tcpConnect(port, '127.0.0.1');
        socket.on('error', () => {});
        await once(socket, 'connect');
        return socket;
      }),
    );
  }

  it('maxStartups counts connections authenticating on every worker', async () => {
    // Two handshakes in progress, one per worker, fill the server's MaxStartups.
    const server = labServer({ maxStartups: { start: 2, rate: 100, full: 3 } });
    const refused: RefusedEvent[] = [];
    server.on('refused', (e: RefusedEvent) => refused.push(e));
    const { port } = (await server.listen()) as { port: number };
    try {
      const sockets = await rawSockets(port, 2);
      await until(() => server.unauthenticatedCount === 2);
      const late = await rawSockets(port, 2);
      await until(() => refused.length === 2);
      expect(refused.map((r) => r.reason)).toEqual(['max-startups', 'max-startups']);
      expect(server.unauthenticatedCount).toBe(2);
      // Once those leave, their workers report it and new ones are admitted again.
      for (const s of [...sockets, ...late]) s.destroy();
      await until(() => server.unauthenticatedCount === 0);
      expect(server.unauthenticatedCount).toBe(0);
      const conn = await connect('127.0.0.1', port, {
        identity: alice,
        knownHosts: knownHosts(port),
      });
      expect(await (conn.root as unknown as LabApi).add(1, 2)).toBe(3);
      await conn.close();
    } finally {
      await server.close(0);
    }
  }, 30_000);

  it('maxUnauthenticatedPerSource counts one source on every worker', async () => {
    const server = labServer({ maxUnauthenticatedPerSource: 2 });
    const refused: RefusedEvent[] = [];
    server.on('refused', (e: RefusedEvent) => refused.push(e));
    const { port } = (await server.listen()) as { port: number };
    try {
      const sockets = await rawSockets(port, 3);
      await until(() => refused.length === 1);
      expect(refused.map((r) => r.reason)).toEqual(['max-unauthenticated-per-source']);
      for (const s of sockets) s.destroy();
    } finally {
      await server.close(0);
    }
  }, 30_000);

  it('the password back-off is one budget for all workers', async () => {
    const passwordsPath = join(files.dir, 'passwords');
    const passwords = new PasswordFile(passwordsPath);
    await passwords.register(
      opaqueServerFor(await loadIdentity(files.hostKeyPath)),
      'alice',
      'the real one',
      { ksf: { algorithm: 'scrypt', N: 1024, r: 8, p: 1 } },
    );
    await passwords.save();
    // Two free failures, then a back-off longer than the test.
    const limiter = {
      perUser: { freeFailures: 2, baseDelayMs: 600_000, maxDelayMs: 600_000 },
      perSource: { freeFailures: 1_000 },
    };
    const attempts = 12;
    const server = labServer({
      maxUnauthenticatedPerSource: attempts,
      maxStartups: { start: attempts, rate: 30, full: attempts * 2 },
      authenticator: {
        module: pathToFileURL(join(fixtures, 'password-auth.mjs')).href,
        options: { hostKeyPath: files.hostKeyPath, passwordsPath, limiter },
      },
      loginLimiter: limiter,
    });
    const reasons: string[] = [];
    server.on('disconnect', (e: PoolDisconnectEvent) => reasons.push(e.reason ?? ''));
    const { port } = (await server.listen()) as { port: number };
    try {
      const results = await Promise.all(
        Array.from({ length: attempts }, (_, i) =>
          connect('127.0.0.1', port, {
            knownHosts: knownHosts(port),
            username: 'alice',
            password: `guess ${i}`,
            ksfBounds: { scryptMinMemoryBytes: 0 },
            timeout: 60_000,
          }).then(
            () => undefined,
            (e: unknown) => e,
          ),
        ),
      );
      for (const result of results) expect(result).toBeInstanceOf(AuthenticationError);
      await until(() => reasons.length === attempts);
      // Two free failures, then the one whose failure starts the back-off: three reached
      // OPAQUE in all, whichever worker each landed on.
      expect(reasons.filter((r) => !r.includes('rate limited'))).toHaveLength(3);
    } finally {
      await server.close(0);
    }
  }, 120_000);
});
