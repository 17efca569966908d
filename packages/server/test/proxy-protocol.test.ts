/**
 * The PROXY protocol on real servers: a relay in front plays the load balancer, and the
 * address its header carries must stand for the client everywhere (credentials, events,
 * `from=`, `ipAllowlist`, per-source limits), on every server and on TCP and Unix listeners.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type Connection, currentCall, type Remote, TimeoutError } from '@keyway/core';
import {
  AuthenticationError,
  AuthorizedKeys,
  compose,
  ipAllowlist,
  publicKeyAuth,
} from '@keyway/secure';
// Workers load the built package, so the pool server is the built one.
import { ThreadPoolServer } from '@keyway/server';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type AuthFailureEvent,
  type ConnectionEvent,
  connect,
  OneShotServer,
  ProxyProtocolError,
  type RefusedEvent,
  ThreadedServer,
  type ThreadedServerOptions,
} from '../src/index.js';
import { alice, authorizedKeys, hostKey, keyFiles, knownHosts, Lab, sleep } from './helpers.js';
import { proxyV1, proxyV2, type Relay, startRelay } from './proxy-relay.js';

type LabApi = Remote<Lab & { peer(): string | undefined }>;

/** Lab, plus the address the server's RPC connection reports for its peer. */
class PeerLab extends Lab {
  peer() {
    return currentCall().connection.remoteAddress;
  }
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const client = { address: '192.0.2.7', port: 40001 };
const elsewhere = { address: '198.51.100.9', port: 40002 };
const balancer = { address: '10.0.0.1', port: 18861 };

async function startServer(
  options: Partial<ThreadedServerOptions> = {},
  Server: typeof ThreadedServer = ThreadedServer,
) {
  const server = new Server(PeerLab, {
    authenticator: publicKeyAuth({ identity: hostKey, authorizedKeys: authorizedKeys(alice) }),
    proxyProtocol: { trusted: ['127.0.0.1'] },
    ...options,
  });
  cleanups.push(() => server.close(0));
  const events = { connection: [] as ConnectionEvent[], refused: [] as RefusedEvent[] };
  server.on('connection', (e: ConnectionEvent) => events.connection.push(e));
  server.on('refused', (e: RefusedEvent) => events.refused.push(e));
  const address = await server.listen();
  return { server, events, port: 'port' in address ? address.port : 0 };
}

async function relay(target: number | string, header: () => Uint8Array | undefined) {
  const r: Relay = await startRelay(target, header);
  cleanups.push(() => r.close());
  return r;
}

async function login(port: number): Promise<{ conn: Connection; lab: LabApi }> {
  const conn = await connect('127.0.0.1', port, {
    identity: alice,
    knownHosts: knownHosts(port),
    timeout: 10_000,
  });
  cleanups.push(() => conn.close());
  return { conn, lab: conn.root as unknown as LabApi };
}

/** A raw socket to the server that sends `bytes` and waits for the server to close it. */
async function rawClosed(
  port: number,
  bytes: Uint8Array,
  options: { end?: boolean; timeoutMs?: number } = {},
): Promise<boolean> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const socket: Socket = netConnect({ host: '127.0.0.1', port });
  socket.on('error', () => {});
  cleanups.push(() => void socket.destroy());
  if (options.end) socket.end(bytes);
  else socket.write(bytes);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
    socket.resume();
  });
}

async function until(check: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check() && Date.now() < end) await sleep(20);
}

describe('PROXY protocol on a ThreadedServer', () => {
  it.each([
    ['v1', () => proxyV1(client, balancer)],
    ['v2', () => proxyV2({ source: client, destination: balancer })],
  ])(
    'the %s header address is the peer in credentials, events and the connection',
    async (_, header) => {
      const { port, events } = await startServer();
      const front = await relay(port, header);
      const { lab } = await login(front.port);
      expect(await lab.whoami()).toMatchObject({ remoteAddress: '192.0.2.7' });
      expect(await lab.peer()).toBe('192.0.2.7:40001');
      expect(events.connection).toEqual([
        { remoteAddress: '192.0.2.7', remotePort: 40001, via: '127.0.0.1' },
      ]);
    },
  );

  it('matches authorized_keys from= against the header address, and refuses another', async () => {
    const keys = AuthorizedKeys.parse(`from="192.0.2.0/24" ${alice.publicKeyLine()}\n`);
    const { port } = await startServer({
      authenticator: publicKeyAuth({ identity: hostKey, authorizedKeys: keys }),
    });
    const inside = await relay(port, () => proxyV2({ source: client, destination: balancer }));
    const { lab } = await login(inside.port);
    expect(await lab.add(1, 2)).toBe(3);
    const outside = await relay(port, () => proxyV2({ source: elsewhere, destination: balancer }));
    await expect(login(outside.port)).rejects.toBeInstanceOf(AuthenticationError);
  });

  it('ipAllowlist sees the header address', async () => {
    const { port, server } = await startServer({
      authenticator: compose(
        ipAllowlist(['192.0.2.0/24']),
        publicKeyAuth({ identity: hostKey, authorizedKeys: authorizedKeys(alice) }),
      ),
    });
    const inside = await relay(port, () => proxyV1(client, balancer));
    expect(await (await login(inside.port)).lab.add(2, 2)).toBe(4);
    const failures: AuthFailureEvent[] = [];
    server.on('authFailure', (e: AuthFailureEvent) => failures.push(e));
    const outside = await relay(port, () => proxyV1(elsewhere, balancer));
    // The allowlist runs before any cryptography: the client sees only a closed connection.
    await expect(login(outside.port)).rejects.toThrow();
    await until(() => failures.length === 1);
    expect(failures[0]).toMatchObject({ remoteAddress: '198.51.100.9' });
    expect(failures[0]?.error).toBeInstanceOf(AuthenticationError);
  });

  it('counts unauthenticated connections per header source, not per balancer', async () => {
    const { port, events } = await startServer({ maxUnauthenticatedPerSource: 1 });
    // Each sends its header and then nothing, so it stays unauthenticated.
    const hold = (source: typeof client) => {
      const s = netConnect({ host: '127.0.0.1', port });
      s.on('error', () => {});
      s.write(proxyV2({ source, destination: balancer }));
      cleanups.push(() => void s.destroy());
    };
    hold(client);
    await until(() => events.connection.length === 1);
    hold(client);
    hold(elsewhere);
    await until(() => events.connection.length === 2 && events.refused.length === 1);
    expect(events.refused).toEqual([
      { remoteAddress: '192.0.2.7', reason: 'max-unauthenticated-per-source', error: undefined },
    ]);
    expect(events.connection.map((e) => e.remoteAddress)).toEqual(['192.0.2.7', '198.51.100.9']);
  });

  it('refuses a header from a peer that is not trusted, and serves it without one', async () => {
    const { port, events } = await startServer({ proxyProtocol: { trusted: ['10.0.0.0/8'] } });
    expect(await rawClosed(port, proxyV1(client, balancer))).toBe(true);
    expect(await rawClosed(port, proxyV2({ source: client, destination: balancer }))).toBe(true);
    await until(() => events.refused.length === 2);
    for (const refused of events.refused) {
      expect(refused).toMatchObject({ remoteAddress: '127.0.0.1', reason: 'proxy-protocol' });
      expect(refused.error).toBeInstanceOf(ProxyProtocolError);
      expect((refused.error as ProxyProtocolError).code).toBe('ERR_PROXY_HEADER_UNTRUSTED');
    }
    const { lab } = await login(port);
    expect(await lab.whoami()).toMatchObject({ remoteAddress: '127.0.0.1' });
  });

  it('refuses a trusted peer that sends no header', async () => {
    const { port, events } = await startServer();
    await expect(login(port)).rejects.toThrow();
    await until(() => events.refused.length === 1);
    expect((events.refused[0]?.error as ProxyProtocolError | undefined)?.code).toBe(
      'ERR_PROXY_HEADER_MISSING',
    );
    expect(events.connection).toEqual([]);
  });

  it('refuses a malformed or oversized header', async () => {
    const { port, events } = await startServer({
      proxyProtocol: { trusted: ['127.0.0.1'], maxHeaderBytes: 300 },
    });
    expect(await rawClosed(port, Buffer.from('PROXY TCP4 1.2.3.4 nonsense 1 2\r\n'))).toBe(true);
    const big = proxyV2({ source: client, destination: balancer, tlvs: new Uint8Array(400) });
    expect(await rawClosed(port, big.subarray(0, 16))).toBe(true);
    await until(() => events.refused.length === 2);
    expect(events.refused.map((e) => (e.error as ProxyProtocolError).code)).toEqual([
      'ERR_PROXY_HEADER_MALFORMED',
      'ERR_PROXY_HEADER_TOO_LONG',
    ]);
  });

  it('a header that never completes ends at the handshake deadline', async () => {
    const { port, events } = await startServer({ handshakeTimeoutMs: 300 });
    expect(await rawClosed(port, Buffer.from('PROXY TCP4 1.2.3.4'))).toBe(true);
    await until(() => events.refused.length === 1);
    expect(events.refused[0]?.error).toBeInstanceOf(TimeoutError);
  });

  it("LOCAL (a health check) keeps the connection's own address, and a bare probe is harmless", async () => {
    const { port, events } = await startServer();
    // HAProxy's check: connect, send a LOCAL header, hang up.
    expect(await rawClosed(port, proxyV2({ command: 'local' }), { end: true })).toBe(true);
    const front = await relay(port, () => proxyV2({ command: 'local' }));
    const { lab } = await login(front.port);
    expect(await lab.whoami()).toMatchObject({ remoteAddress: '127.0.0.1' });
    expect(events.refused).toEqual([]);
  });

  it('the handshake deadline runs from accept, header included', async () => {
    const { port, events } = await startServer({ handshakeTimeoutMs: 2_000 });
    const socket = netConnect({ host: '127.0.0.1', port });
    socket.on('error', () => {});
    cleanups.push(() => void socket.destroy());
    const closed = new Promise<number>((resolve) => socket.on('close', () => resolve(Date.now())));
    const start = Date.now();
    // Most of the deadline for the header, then silence: what is left of it is all there is.
    setTimeout(() => socket.write(proxyV2({ source: client, destination: balancer })), 1_400);
    const end = await closed;
    expect(events.connection).toHaveLength(1);
    // From admission it would be 1.4 s + 2 s.
    expect(end - start).toBeLessThan(2_900);
    expect(end - start).toBeGreaterThanOrEqual(1_900);
  });
});

describe('PROXY protocol on the other servers and listeners', () => {
  it('OneShotServer', async () => {
    const { port } = await startServer({}, OneShotServer);
    const front = await relay(port, () => proxyV1(client, balancer));
    const { lab } = await login(front.port);
    expect(await lab.whoami()).toMatchObject({ remoteAddress: '192.0.2.7' });
  });

  it('ThreadPoolServer, whose workers see the header address', async () => {
    const files = keyFiles();
    cleanups.push(() => files.cleanup());
    const server = new ThreadPoolServer(
      pathToFileURL(join(import.meta.dirname, 'fixtures', 'lab-service.mjs')),
      {
        threads: 1,
        proxyProtocol: { trusted: ['127.0.0.0/8'] },
        authenticator: {
          module: pathToFileURL(join(import.meta.dirname, 'fixtures', 'lab-auth.mjs')).href,
          options: { hostKeyPath: files.hostKeyPath, authorizedKeysPath: files.authorizedKeysPath },
        },
      },
    );
    cleanups.push(() => server.close(0));
    const authenticated: string[] = [];
    server.on('authenticated', (e: { remoteAddress: string }) =>
      authenticated.push(e.remoteAddress),
    );
    const { port } = (await server.listen()) as { port: number };
    const front = await relay(port, () => proxyV2({ source: client, destination: balancer }));
    const { lab } = await login(front.port);
    expect(await lab.whoami()).toMatchObject({ remoteAddress: '192.0.2.7' });
    expect(authenticated).toEqual(['192.0.2.7']);
  }, 30_000);

  it('a Unix listener trusts its peers with "unix", and refuses headers without it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyway-proxy-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const trusted = await startServer({
      path: join(dir, 'a.sock'),
      proxyProtocol: { trusted: ['unix'] },
    });
    const front = await relay(join(dir, 'a.sock'), () => proxyV1(client, balancer));
    const { lab } = await login(front.port);
    expect(await lab.whoami()).toMatchObject({ remoteAddress: '192.0.2.7' });
    expect(trusted.events.connection[0]).toMatchObject({ via: `unix:${join(dir, 'a.sock')}` });

    const strict = await startServer({
      path: join(dir, 'b.sock'),
      proxyProtocol: { trusted: ['127.0.0.1'] },
    });
    const sneaky = await relay(join(dir, 'b.sock'), () => proxyV1(client, balancer));
    await expect(login(sneaky.port)).rejects.toThrow();
    await until(() => strict.events.refused.length === 1);
    expect((strict.events.refused[0]?.error as ProxyProtocolError | undefined)?.code).toBe(
      'ERR_PROXY_HEADER_UNTRUSTED',
    );
  });

  it('refuses a bad trusted list at construction', () => {
    const authenticator = publicKeyAuth({
      identity: hostKey,
      authorizedKeys: authorizedKeys(alice),
    });
    expect(
      () =>
        new ThreadedServer(Lab, { authenticator, proxyProtocol: { trusted: ['10.0.0.300/8'] } }),
    ).toThrow(RangeError);
    expect(
      () =>
        new ThreadedServer(Lab, {
          authenticator,
          proxyProtocol: { trusted: [], maxHeaderBytes: 16 },
        }),
    ).toThrow(RangeError);
    expect(
      () =>
        new ThreadedServer(Lab, {
          authenticator,
          proxyProtocol: 'yes' as unknown as { trusted: string[] },
        }),
    ).toThrow(TypeError);
  });
});
