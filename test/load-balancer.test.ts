/**
 * The recipe of docs/deployment.md, run for real: HAProxy (and nginx `stream`, when it can
 * be installed) in front of three `keyway serve` processes sharing one host key, each
 * configuration read from that page. Clients dial the balancer with strict known_hosts;
 * the servers see each client's own address through the PROXY protocol.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AuthenticationError,
  type Connection,
  ConnectionClosedError,
  connect,
  generateIdentity,
  type Identity,
  KnownHosts,
} from 'keyway-rpc';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type BackendFiles,
  freePort,
  missing,
  nginxMissing,
  type Running,
  startBackend,
  startHaproxy,
  startNginx,
  stop,
} from './load-balancer-fleet.js';

interface Backend {
  pid(): Promise<number>;
  remoteAddress(): Promise<string>;
  sleep(ms: number): Promise<number>;
  add(a: number, b: number): Promise<number>;
}

const haproxyMissing = missing('haproxy', ['-v']);
const noNginx = nginxMissing();
if (haproxyMissing) console.warn(`skipping the HAProxy tests: ${haproxyMissing}`);
if (noNginx) console.warn(`skipping the nginx test: ${noNginx}`);

const hostKey = generateIdentity('keyway fleet');
const alice = generateIdentity('alice@lab');
const bob = generateIdentity('bob@lab');

let dir: string;
let files: BackendFiles;
let backendPorts: number[];
const backends: Running[] = [];
let haproxy: Running | undefined;
let lbPort: number;
const opened: Connection[] = [];

/** Connects through the balancer on `port` with strict known_hosts naming only it. */
async function dial(
  port: number,
  identity: Identity = bob,
  localAddress?: string,
): Promise<{ conn: Connection; api: Backend }> {
  const knownHosts = KnownHosts.parse('');
  knownHosts.add('127.0.0.1', port, hostKey.publicKey);
  const conn = await connect('127.0.0.1', port, {
    identity,
    knownHosts,
    hostKeyPolicy: 'strict',
    timeout: 15_000,
    ...(localAddress !== undefined && { localAddress }),
  });
  opened.push(conn);
  return { conn, api: conn.root as unknown as Backend };
}

/** Opens `n` connections at once and learns which backend process serves each. */
async function spread(port: number, n: number) {
  const all = await Promise.all(Array.from({ length: n }, () => dial(port)));
  return Promise.all(all.map(async (c) => ({ ...c, pid: await c.api.pid() })));
}

/**
 * Restarts every backend that is no longer running, so that a test which failed with a
 * server stopped does not leave the next test one server short.
 */
async function reviveBackends(): Promise<void> {
  for (let i = 0; i < backends.length; i++) {
    const child = backends[i]!.child;
    if (child.exitCode !== null || child.signalCode !== null) await restartBackend(i);
  }
}

/** Restarts backend `i` on its port and waits until the balancer sends it connections. */
async function restartBackend(i: number): Promise<void> {
  backends[i] = await startBackend(backendPorts[i]!, files);
  const pid = backends[i]!.child.pid;
  const deadline = Date.now() + 30_000;
  // leastconn gives a new connection to the server with fewest, once it is up again.
  for (;;) {
    const { conn, api } = await dial(lbPort);
    const served = await api.pid();
    await conn.close();
    if (served === pid) return;
    if (Date.now() > deadline) throw new Error(`backend ${i} never came back into rotation`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

beforeAll(async () => {
  if (haproxyMissing) return;
  dir = mkdtempSync(join(tmpdir(), 'keyway-lb-'));
  files = {
    service: join(import.meta.dirname, 'fixtures', 'backend-service.mjs'),
    hostKey: join(dir, 'host_key'),
    authorizedKeys: join(dir, 'authorized_keys'),
  };
  writeFileSync(files.hostKey, hostKey.toOpenSSH().privateKey, { mode: 0o600 });
  writeFileSync(
    files.authorizedKeys,
    `from="127.0.0.5" ${alice.publicKeyLine()}\n${bob.publicKeyLine()}\n`,
    { mode: 0o600 },
  );
  backendPorts = [await freePort(), await freePort(), await freePort()];
  for (const port of backendPorts) backends.push(await startBackend(port, files));
  lbPort = await freePort();
  haproxy = await startHaproxy(dir, lbPort, backendPorts);
}, 90_000);

afterAll(async () => {
  await Promise.all(opened.map((c) => c.close().catch(() => {})));
  if (haproxy) await stop(haproxy);
  await Promise.all(backends.map((b) => stop(b, 'SIGKILL')));
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 30_000);

describe.skipIf(haproxyMissing !== undefined)('HAProxy in front of three keyway serve', () => {
  it('connects with strict known_hosts naming only the balancer, spread over all three', async () => {
    const conns = await spread(lbPort, 6);
    for (const { api } of conns) expect(await api.add(2, 3)).toBe(5);
    const pids = new Set(conns.map((c) => c.pid));
    expect(pids).toEqual(new Set(backends.map((b) => b.child.pid)));
    for (const { conn } of conns) await conn.close();
  }, 60_000);

  it('the servers see the client address: from= admits 127.0.0.5 and refuses 127.0.0.6', async () => {
    const { api } = await dial(lbPort, alice, '127.0.0.5');
    expect(await api.remoteAddress()).toBe('127.0.0.5');
    await expect(dial(lbPort, alice, '127.0.0.6')).rejects.toBeInstanceOf(AuthenticationError);
    const other = await dial(lbPort, bob, '127.0.0.6');
    expect(await other.api.remoteAddress()).toBe('127.0.0.6');
  }, 60_000);

  it('a client that bypasses the balancer is refused: the servers expect a PROXY header', async () => {
    const knownHosts = KnownHosts.parse('');
    knownHosts.add('127.0.0.1', backendPorts[0]!, hostKey.publicKey);
    await expect(
      connect('127.0.0.1', backendPorts[0]!, { identity: bob, knownHosts, timeout: 10_000 }),
    ).rejects.toThrow();
  }, 30_000);

  it('killing one backend fails only its connections; new ones keep succeeding', async () => {
    const conns = await spread(lbPort, 6);
    const victim = 1;
    const victimPid = backends[victim]!.child.pid;
    expect(conns.some((c) => c.pid === victimPid)).toBe(true);
    const calls = conns.map(
      async (c): Promise<{ pid: number; value?: number; error?: unknown }> => {
        try {
          return { pid: c.pid, value: await c.api.sleep(3_000) };
        } catch (error) {
          return { pid: c.pid, error };
        }
      },
    );
    await new Promise((r) => setTimeout(r, 500));
    await stop(backends[victim]!, 'SIGKILL');
    const results = await Promise.all(calls);
    for (const result of results) {
      if (result.pid === victimPid) {
        expect(result.error).toBeInstanceOf(ConnectionClosedError);
      } else {
        expect(result).toEqual({ pid: result.pid, value: 3_000 });
      }
    }
    // Straight away, before any health check noticed: a refused connect is retried on
    // another server (option redispatch).
    const fresh = await spread(lbPort, 6);
    for (const c of fresh) {
      expect(c.pid).not.toBe(victimPid);
      expect(await c.api.add(1, 1)).toBe(2);
    }
    for (const c of [...conns, ...fresh]) await c.conn.close();
    await restartBackend(victim);
  }, 90_000);

  it('a rolling restart (SIGTERM drains, then restart) loses no call that had started', async () => {
    let started = 0;
    let finished = 0;
    let cutHandshakes = 0;
    let newConnectionCalls = 0;
    for (let i = 0; i < backends.length; i++) {
      const pid = backends[i]!.child.pid;
      // Connections until at least two are on the server about to restart (bounded).
      const conns: Awaited<ReturnType<typeof spread>> = [];
      for (let round = 0; round < 5 && conns.filter((c) => c.pid === pid).length < 2; round++) {
        conns.push(...(await spread(lbPort, 3)));
      }
      expect(conns.filter((c) => c.pid === pid).length).toBeGreaterThanOrEqual(2);
      const calls = conns.map(async (c) => {
        started++;
        const value = await c.api.sleep(1_500);
        finished++;
        return value;
      });
      await new Promise((r) => setTimeout(r, 300));
      const exited = stop(backends[i]!, 'SIGTERM', 20_000);
      // Meanwhile new clients keep arriving; the balancer sends them elsewhere. One that was
      // still in its handshake with the stopping server when SIGTERM came is cut there
      // (connect() fails, no call was made) and dials again, as a client should.
      let draining = true;
      const arrivals = (async () => {
        while (draining) {
          let attempt = 0;
          for (;;) {
            try {
              const { conn, api } = await dial(lbPort);
              newConnectionCalls++;
              expect(await api.add(20, 22)).toBe(42);
              await conn.close();
              break;
            } catch (error) {
              expect((error as { code?: string }).code).toMatch(
                /^ERR_(HANDSHAKE|CONNECTION_RESET)$/,
              );
              cutHandshakes++;
              if (++attempt === 3) throw error;
            }
          }
        }
      })();
      // Its failure is reported by the `await arrivals` below, not as an unhandled rejection.
      arrivals.catch(() => {});
      expect(await Promise.all(calls)).toEqual(calls.map(() => 1_500));
      expect(await exited).toBe(0);
      draining = false;
      await arrivals;
      for (const c of conns) await c.conn.close();
      await restartBackend(i);
    }
    expect(finished).toBe(started);
    expect(newConnectionCalls).toBeGreaterThan(0);
    // At most a few, each cut at SIGTERM and served on its second attempt.
    expect(cutHandshakes).toBeLessThanOrEqual(backends.length * 2);
    console.log(
      `rolling restart: ${started} calls started, ${finished} finished; ${newConnectionCalls} new connections served, ${cutHandshakes} handshakes cut at SIGTERM and redialled`,
    );
  }, 180_000);
});

describe.skipIf(haproxyMissing !== undefined || noNginx !== undefined)(
  'nginx stream in front of the same three',
  () => {
    let nginx: Running | undefined;
    afterAll(async () => {
      if (nginx) await stop(nginx);
    });

    it('connects with strict known_hosts, spreads, and passes the client address (v1)', async () => {
      const port = await freePort();
      const prefix = join(dir, 'nginx');
      rmSync(prefix, { recursive: true, force: true });
      mkdirSync(prefix, { recursive: true });
      await reviveBackends();
      nginx = await startNginx(prefix, port, backendPorts);
      const conns = await spread(port, 6);
      expect(new Set(conns.map((c) => c.pid)).size).toBe(3);
      const { api } = await dial(port, alice, '127.0.0.5');
      expect(await api.remoteAddress()).toBe('127.0.0.5');
      await expect(dial(port, alice, '127.0.0.6')).rejects.toBeInstanceOf(AuthenticationError);
      for (const c of conns) await c.conn.close();
    }, 60_000);
  },
);
