/**
 * End to end through real servers on 127.0.0.1: a key whose authorized_keys line says
 * `restrict` logs in with `credentials.restricted` true, an ordinary service serves it,
 * and classic mode (remote eval) refuses it; the same key without `restrict` gets
 * classic mode. ThreadPoolServer authenticates in its workers, so the flag is checked
 * there too.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ClassicService, type Connection, type Remote } from '@keyway/core';
import { AuthorizedKeys, generateIdentity, publicKeyAuth } from '@keyway/secure';
// Workers load built JavaScript, so the pool server comes from the built package.
import { type PoolDisconnectEvent, ThreadPoolServer } from '@keyway/server';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connect, type DisconnectEvent, ThreadedServer } from '../src/index.js';
import { alice, hostKey, keyFiles, knownHosts, Lab, mallory } from './helpers.js';

const bob = generateIdentity('bob@lab');
const fixtures = join(import.meta.dirname, 'fixtures');
const servers: { close(graceMs?: number): Promise<void> }[] = [];
const clients: Connection[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(servers.splice(0).map((s) => s.close(0)));
});

/** alice's line says `restrict`; bob's does not. */
const AUTHORIZED = `restrict ${alice.publicKeyLine()}\n${bob.publicKeyLine()}\n`;

async function login(port: number, identity = alice): Promise<Connection> {
  const conn = await connect('127.0.0.1', port, { identity, knownHosts: knownHosts(port) });
  clients.push(conn);
  return conn;
}

/** Whether a login may evaluate code: false when connecting or the call is refused. */
async function canEval(port: number, identity = alice): Promise<boolean> {
  let conn: Connection;
  try {
    conn = await login(port, identity);
  } catch {
    return false;
  }
  try {
    return (await (conn.root as Remote<ClassicService>).eval('6 * 7')) === 42;
  } catch {
    return false;
  }
}

async function threaded(service: ConstructorParameters<typeof ThreadedServer>[0]) {
  const server = new ThreadedServer(service, {
    authenticator: publicKeyAuth({
      identity: hostKey,
      authorizedKeys: AuthorizedKeys.parse(AUTHORIZED),
    }),
  });
  servers.push(server);
  const address = await server.listen();
  return { server, port: (address as { port: number }).port };
}

describe('restrict through ThreadedServer', () => {
  it('an ordinary service serves the restricted key and sees restricted: true', async () => {
    const { port } = await threaded(Lab);
    const asAlice = (await login(port)).root as Remote<Lab>;
    expect(await asAlice.add(1, 2)).toBe(3);
    expect(await asAlice.whoami()).toMatchObject({
      publicKey: { fingerprint: alice.fingerprint },
      restricted: true,
    });
    const asBob = (await login(port, bob)).root as Remote<Lab>;
    expect(await asBob.whoami()).toMatchObject({ restricted: false });
  });

  it('classic mode refuses the restricted key and serves the unrestricted one', async () => {
    const { server, port } = await threaded(new ClassicService({ enabled: true }));
    const ended: DisconnectEvent[] = [];
    server.on('disconnect', (e: DisconnectEvent) => ended.push(e));
    expect(await canEval(port, alice)).toBe(false);
    for (let i = 0; i < 100 && ended.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(ended[0]?.credentials.restricted).toBe(true);
    expect(ended[0]?.reason).toMatchObject({
      code: 'ERR_ON_CONNECT',
      cause: expect.objectContaining({ code: 'ERR_ACCESS_DENIED' }),
    });
    expect(await canEval(port, bob)).toBe(true);
  });

  it('regression: the refused key reads why classic mode refused it (it saw only a close)', async () => {
    const { port } = await threaded(new ClassicService({ enabled: true }));
    const conn = await login(port, alice);
    expect(await conn.closed).toMatchObject({
      code: 'ERR_ACCESS_DENIED',
      message: expect.stringContaining('classic mode is refused to a restricted login'),
    });
  });
});

describe('restrict through ThreadPoolServer', () => {
  const files = keyFiles();
  const pool: ThreadPoolServer[] = [];
  const ended: PoolDisconnectEvent[] = [];

  async function start(module: string): Promise<number> {
    const server = new ThreadPoolServer(pathToFileURL(join(fixtures, module)), {
      threads: 1,
      authenticator: {
        module: pathToFileURL(join(fixtures, 'lab-auth.mjs')).href,
        options: { hostKeyPath: files.hostKeyPath, authorizedKeysPath: files.authorizedKeysPath },
      },
    });
    pool.push(server);
    server.on('disconnect', (e: PoolDisconnectEvent) => ended.push(e));
    return ((await server.listen()) as { port: number }).port;
  }

  /** Waits (at most 1 s) for a disconnect event that matches. */
  async function disconnected(match: (e: PoolDisconnectEvent) => boolean) {
    for (let i = 0; i < 100 && !ended.some(match); i++) await new Promise((r) => setTimeout(r, 10));
    return ended.find(match);
  }

  let labPort: number;
  let classicPort: number;
  beforeAll(async () => {
    writeFileSync(files.authorizedKeysPath, AUTHORIZED, { mode: 0o600 });
    labPort = await start('lab-service.mjs');
    classicPort = await start('classic-service.mjs');
  });
  afterAll(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await Promise.all(pool.map((s) => s.close(0)));
    files.cleanup();
  });

  it('the worker that authenticates sees restricted: true', async () => {
    const asAlice = (await login(labPort)).root as Remote<{ whoami(): unknown }>;
    expect(await asAlice.whoami()).toMatchObject({ restricted: true });
  });

  it('classic mode in a worker refuses the restricted key and serves the other', async () => {
    expect(await canEval(classicPort, alice)).toBe(false);
    expect(await canEval(classicPort, bob)).toBe(true);
  });

  it('regression: a refusal in onConnect is an authenticated disconnect with its reason, not a failed worker', async () => {
    ended.length = 0;
    expect(await canEval(classicPort, alice)).toBe(false);
    // Before the fix this read { authenticated: false, reason: 'worker failed: …' }.
    expect(await disconnected((e) => e.reason !== undefined)).toEqual({
      remoteAddress: '127.0.0.1',
      authenticated: true,
      reason: expect.stringMatching(/onConnect failed.*restricted login/),
    });
  });

  it('regression: pool disconnect events carry their reason (it was dropped as `error`)', async () => {
    ended.length = 0;
    expect(await canEval(classicPort, mallory)).toBe(false);
    expect(await disconnected((e) => !e.authenticated)).toEqual({
      remoteAddress: '127.0.0.1',
      authenticated: false,
      reason: expect.stringMatching(/key not authorized/),
    });
  });
});
