import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type Connection, ConnectionClosedError } from '@keyway/core';
import { AuthenticationError } from '@keyway/secure';
// Workers load built JavaScript, so this suite drives the built package.
import { connect, type PoolDisconnectEvent, ThreadPoolServer } from '@keyway/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alice, keyFiles, knownHosts, mallory } from './helpers.js';

interface LabApi {
  add(a: number, b: number): Promise<number>;
  sleep(ms: number): Promise<number>;
  spin(ms: number): Promise<boolean>;
  thread(): Promise<number>;
  whoami(): Promise<unknown>;
  crash(): Promise<string>;
}

const fixtures = join(import.meta.dirname, 'fixtures');
const files = keyFiles();
let server: ThreadPoolServer;
let port: number;
const opened: Connection[] = [];

async function login(identity = alice): Promise<{ conn: Connection; lab: LabApi }> {
  const conn = await connect('127.0.0.1', port, { identity, knownHosts: knownHosts(port) });
  opened.push(conn);
  return { conn, lab: conn.root as unknown as LabApi };
}

beforeAll(async () => {
  server = new ThreadPoolServer(pathToFileURL(join(fixtures, 'lab-service.mjs')), {
    threads: 2,
    // Fifty clients log in at once from one address in these tests.
    maxUnauthenticatedPerSource: 64,
    maxStartups: { start: 64, rate: 30, full: 100 },
    authenticator: {
      module: pathToFileURL(join(fixtures, 'lab-auth.mjs')).href,
      options: { hostKeyPath: files.hostKeyPath, authorizedKeysPath: files.authorizedKeysPath },
    },
  });
  const address = await server.listen();
  port = (address as { port: number }).port;
});

afterAll(async () => {
  await Promise.all(opened.map((c) => c.close()));
  await server.close(0);
  files.cleanup();
});

describe('ThreadPoolServer', () => {
  it('serves calls from worker threads, with the credentials the worker established', async () => {
    const { lab } = await login();
    expect(await lab.add(40, 2)).toBe(42);
    expect(await lab.thread()).toBeGreaterThan(0);
    expect(await lab.whoami()).toMatchObject({ publicKey: { fingerprint: alice.fingerprint } });
  });

  it('refuses an untrusted key', async () => {
    await expect(login(mallory)).rejects.toThrow(AuthenticationError);
  });

  it('50 clients each waiting 1 s all finish together', async () => {
    const clients = await Promise.all(Array.from({ length: 50 }, () => login()));
    const started = Date.now();
    const results = await Promise.all(clients.map(({ lab }) => lab.sleep(1000)));
    expect(results).toEqual(Array(50).fill(1000));
    expect(Date.now() - started).toBeLessThan(2000);
    await Promise.all(clients.map(({ conn }) => conn.close()));
  });

  it('a CPU-heavy call on one connection does not stall calls on another', async () => {
    const busy = await login();
    const busyThread = await busy.lab.thread();
    // Find a connection that landed on the other worker.
    let other: Awaited<ReturnType<typeof login>> | undefined;
    for (let i = 0; i < 10 && !other; i++) {
      const candidate = await login();
      if ((await candidate.lab.thread()) !== busyThread) other = candidate;
    }
    expect(other, 'no connection landed on a second worker').toBeDefined();
    const spinning = busy.lab.spin(1500);
    const started = Date.now();
    let calls = 0;
    while (Date.now() - started < 1000 && calls < 10_000) {
      expect(await other?.lab.add(calls, 1)).toBe(calls + 1);
      calls++;
    }
    // The spinning worker could not have answered a single call in that second.
    expect(calls).toBeGreaterThan(10);
    expect(await spinning).toBe(true);
  });

  it('a worker crash closes only its connections, and the pool replaces the worker', async () => {
    const victim = await login();
    const victimThread = await victim.lab.thread();
    let survivor: Awaited<ReturnType<typeof login>> | undefined;
    for (let i = 0; i < 10 && !survivor; i++) {
      const candidate = await login();
      if ((await candidate.lab.thread()) !== victimThread) survivor = candidate;
    }
    expect(survivor).toBeDefined();
    const disconnects: PoolDisconnectEvent[] = [];
    server.on('disconnect', (e: PoolDisconnectEvent) => disconnects.push(e));
    const pending = victim.lab.sleep(10_000);
    await victim.lab.crash().catch(() => undefined);
    // The worker died without saying goodbye: the channel reports the abrupt end, and
    // the call still pending on that connection rejects at once.
    const reason = await victim.conn.closed;
    expect((reason as { code?: string }).code).toBe('ERR_CHANNEL');
    await expect(pending).rejects.toBeInstanceOf(ConnectionClosedError);
    expect(await survivor?.lab.add(1, 1)).toBe(2);
    const fresh = await login();
    expect(await fresh.lab.add(2, 3)).toBe(5);
    expect(server.threads).toBe(2);
  });
});
