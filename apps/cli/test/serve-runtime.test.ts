import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ConnectionClosedError,
  connect,
  KnownHosts,
  loadIdentity,
  type Remote,
  RemoteError,
} from 'keyway-rpc';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { keyway, makeKey, tempDir } from './helpers.js';
import { killAll, type Served, serve } from './serve-process.js';

const FIXTURE = join(import.meta.dirname, 'fixtures', 'calculator.mjs');

interface Calculator {
  add(a: number, b: number): number;
  whoami(): string;
  sleep(ms: number): number;
  fail(): void;
}

let dir: string;
let cleanup: () => Promise<void>;
const p = (name: string) => join(dir, name);
const fingerprintOf = async (file: string) =>
  (await keyway(['fingerprint', file])).stdout.split(' ')[1]!;

async function knownHostsFor(port: number): Promise<KnownHosts> {
  const scan = await keyway(['keyscan', `127.0.0.1:${port}`]);
  expect(scan.code, scan.stderr).toBe(0);
  return KnownHosts.parse(scan.stdout);
}

async function asAlice(server: Served) {
  return connect('127.0.0.1', server.port, {
    identity: await loadIdentity(p('alice')),
    knownHosts: await knownHostsFor(server.port),
  });
}

const publicKey = () => [
  FIXTURE,
  '--port',
  '0',
  '--host-key',
  p('host_key'),
  '--authorized-keys',
  p('authorized_keys'),
];

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
  await makeKey(p('host_key'), 'host');
  for (const who of ['alice', 'expired', 'elsewhere', 'other-service']) await makeKey(p(who), who);
  await keyway(['authorized-keys', 'add', p('alice.pub'), '--file', p('authorized_keys')]);
});
afterEach(() => killAll());
afterAll(() => cleanup());

describe('keyway serve: logs', () => {
  it('a pool logs each login with its method and key, as the threaded server does', async () => {
    const server = await serve([...publicKey(), '--pool', '1'], p('home'));
    const conn = await asAlice(server);
    expect(await (conn.root as Remote<Calculator>).add(1, 2)).toBe(3);
    await conn.close();
    await server.waitFor('login publickey from 127.0.0.1');
    expect(server.stderr()).toContain(
      `login publickey from 127.0.0.1 (${await fingerprintOf(p('alice.pub'))}): accepted`,
    );
    expect(await server.stop()).toBe(0);
  });

  it('a refused key is logged with the precise reason: expired, wrong source, wrong service', async () => {
    const line = async (options: string, who: string) =>
      `${options} ${await readFile(p(`${who}.pub`), 'utf8')}`;
    const text = [
      await line('expiry-time="20000101"', 'expired'),
      await line('from="10.9.9.9"', 'elsewhere'),
      await line('keyway-services="Billing"', 'other-service'),
    ].join('');
    await writeFile(p('authorized_keys_options'), text, { mode: 0o600 });
    const server = await serve(
      [
        FIXTURE,
        '--port',
        '0',
        '--host-key',
        p('host_key'),
        '--authorized-keys',
        p('authorized_keys_options'),
      ],
      p('home'),
    );
    const knownHosts = await knownHostsFor(server.port);
    for (const who of ['expired', 'elsewhere', 'other-service']) {
      await expect(
        connect('127.0.0.1', server.port, { identity: await loadIdentity(p(who)), knownHosts }),
      ).rejects.toThrow();
    }
    await server.waitFor('line 3:');
    const log = server.stderr();
    expect(log).toMatch(
      /refused publickey from 127\.0\.0\.1 \(SHA256:\S+\): key not authorized \(line 1: key expired\)/,
    );
    expect(log).toContain('line 2: remote address 127.0.0.1 not allowed by from="10.9.9.9"');
    expect(log).toContain('line 3: service "Calculator" not allowed');
    expect(await server.stop()).toBe(0);
  });

  it('--log-format json writes one JSON object per line, logins with method and key', async () => {
    const server = await serve([...publicKey(), '--log-format', 'json'], p('home'));
    const conn = await asAlice(server);
    await (conn.root as Remote<Calculator>).add(1, 1);
    await conn.close();
    await server.waitFor('"event":"auth"');
    expect(await server.stop('SIGTERM')).toBe(0);
    const lines = server.stderr().trim().split('\n');
    const events = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const auth = events.find((e) => e.event === 'auth');
    expect(auth).toMatchObject({
      level: 'info',
      outcome: 'success',
      method: 'publickey',
      remoteAddress: '127.0.0.1',
      fingerprint: await fingerprintOf(p('alice.pub')),
    });
    expect(events.map((e) => e.event)).toEqual(
      expect.arrayContaining(['listening', 'auth', 'draining', 'drained', 'closed']),
    );
    for (const e of events) expect(typeof e.time).toBe('string');
  });
});

describe('keyway serve: debug output', () => {
  for (const [name, env] of [
    ['KEYWAY_DEBUG=1', { KEYWAY_DEBUG: '1' }],
    ['NODE_DEBUG=keyway', { NODE_DEBUG: 'keyway' }],
  ] as const) {
    it(`${name} prints handshake and call events on stderr`, async () => {
      const server = await serve(publicKey(), p('home'), env);
      const conn = await asAlice(server);
      expect(await (conn.root as Remote<Calculator>).add(2, 2)).toBe(4);
      await conn.close();
      await server.waitFor(/KEYWAY \d+: return /);
      const log = server.stderr();
      expect(log).toMatch(/KEYWAY \d+: handshake side=server remoteAddress=127\.0\.0\.1/);
      expect(log).toMatch(
        /KEYWAY \d+: authenticated side=server .*methods=publickey .*fingerprint=SHA256:/,
      );
      expect(log).toMatch(/KEYWAY \d+: call id=\d+ op=call path=add/);
      expect(log).toMatch(/KEYWAY \d+: return id=\d+ ok=true/);
      expect(await server.stop()).toBe(0);
    });
  }

  it('without it, no debug lines', async () => {
    const server = await serve(publicKey(), p('home'));
    const conn = await asAlice(server);
    await (conn.root as Remote<Calculator>).add(2, 2);
    await conn.close();
    expect(await server.stop()).toBe(0);
    expect(server.stderr()).not.toContain('KEYWAY');
  });

  it('with --log-format json, debug events are JSON lines too, also from pool workers', async () => {
    const server = await serve([...publicKey(), '--log-format', 'json', '--pool', '1'], p('home'), {
      KEYWAY_DEBUG: '1',
    });
    const conn = await asAlice(server);
    await (conn.root as Remote<Calculator>).add(2, 2);
    await conn.close();
    await server.waitFor('"event":"return"');
    expect(await server.stop()).toBe(0);
    const events = server
      .stderr()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(events).toContainEqual(
      expect.objectContaining({ level: 'debug', event: 'call', op: 'call', path: 'add' }),
    );
    expect(events).toContainEqual(
      expect.objectContaining({ level: 'debug', event: 'handshake', side: 'server' }),
    );
  });
});

describe('keyway serve: stopping', () => {
  it('SIGTERM drains: a call in flight completes, the log counts it, exit 0', async () => {
    // A generous grace and a call long enough to be in flight when the signal lands, even
    // on a loaded machine.
    const server = await serve([...publicKey(), '--grace', '60'], p('home'));
    const conn = await asAlice(server);
    const calc = conn.root as Remote<Calculator>;
    const inFlight = calc.sleep(4000);
    // The call has reached the server once the log's login line is there and a later call
    // on the same connection has come back; sleep() was sent first.
    expect(await calc.add(1, 1)).toBe(2);
    const code = server.stop('SIGTERM');
    expect(await inFlight).toBe(4000);
    expect(await code).toBe(0);
    expect(server.stderr()).toContain('SIGTERM: draining 1 connection and 1 call in flight');
    expect(server.stderr()).toContain('drained 1 connection; 1 call in flight finished');
    await conn.close();
  });

  it('--grace bounds the drain: a call longer than it is cut off, still exit 0', async () => {
    const server = await serve([...publicKey(), '--grace', '0.5'], p('home'));
    const conn = await asAlice(server);
    const calc = conn.root as Remote<Calculator>;
    const inFlight = calc.sleep(20_000).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(await calc.add(1, 1)).toBe(2);
    const started = performance.now();
    expect(await server.stop('SIGINT')).toBe(0);
    expect(performance.now() - started).toBeLessThan(15_000);
    expect(await inFlight).toBeInstanceOf(ConnectionClosedError);
    expect(server.stderr()).toContain(
      'SIGINT: draining 1 connection and 1 call in flight (up to 0.5 s',
    );
    expect(server.stderr()).toContain(
      'the grace of 0.5 s ran out with 1 call still running, cut off',
    );
  });

  it('a pool drains on SIGTERM too', async () => {
    const server = await serve([...publicKey(), '--pool', '1', '--grace', '60'], p('home'));
    const conn = await asAlice(server);
    const calc = conn.root as Remote<Calculator>;
    const inFlight = calc.sleep(4000);
    expect(await calc.add(1, 1)).toBe(2);
    const code = server.stop('SIGTERM');
    expect(await inFlight).toBe(4000);
    expect(await code).toBe(0);
    expect(server.stderr()).toContain('drained 1 connection; 1 call in flight finished');
  });

  it('--grace refuses what is not a number of seconds', async () => {
    for (const grace of ['soon', '1e3', '100000', '.5']) {
      const r = await keyway(['serve', FIXTURE, '--grace', grace]);
      expect(r.code, grace).toBe(2);
      expect(r.stderr).toContain('--grace must be a number of seconds');
    }
    // An option's value that starts with a dash is a usage error of its own.
    expect((await keyway(['serve', FIXTURE, '--grace', '-1'])).code).toBe(2);
  });
});

describe('keyway serve: errors and live password changes', () => {
  it('--remote-stack sends the stack of an error the service throws; without it, none', async () => {
    for (const flag of [true, false]) {
      const server = await serve([...publicKey(), ...(flag ? ['--remote-stack'] : [])], p('home'));
      const conn = await asAlice(server);
      const error = await (conn.root as Remote<Calculator>).fail().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(RemoteError);
      expect((error as RemoteError).message).toContain('calculator says no');
      if (flag) expect((error as RemoteError).remoteStack).toContain('calculator.mjs');
      else expect((error as RemoteError).remoteStack).toBeUndefined();
      await conn.close();
      expect(await server.stop()).toBe(0);
    }
  });

  for (const pool of [false, true]) {
    it(`keyway passwd add and remove take effect on a running server${pool ? ' (pool)' : ''}`, async () => {
      const home = p(pool ? 'home-pool' : 'home-threaded');
      const passwd = (args: string[], input = '') => keyway(['passwd', ...args], { input, home });
      const add = (user: string) =>
        passwd(
          ['add', user, '--host-key', p('host_key'), '--ksf', 'scrypt:N=1024,r=8,p=1'],
          `${user} pw\n`,
        );
      expect((await add('first')).code).toBe(0);
      const server = await serve(
        [
          FIXTURE,
          '--port',
          '0',
          '--auth',
          'password',
          '--host-key',
          p('host_key'),
          ...(pool ? ['--pool', '1'] : []),
        ],
        home,
      );
      const knownHosts = await knownHostsFor(server.port);
      const login = (user: string) =>
        connect('127.0.0.1', server.port, {
          knownHosts,
          username: user,
          password: `${user} pw`,
          ksfBounds: { scryptMinMemoryBytes: 0 },
        });
      await expect(login('carol')).rejects.toThrow();
      const added = await add('carol');
      expect(added.code, added.stderr).toBe(0);
      const conn = await login('carol');
      expect(await (conn.root as Remote<Calculator>).whoami()).toBe('carol');
      await conn.close();
      const removed = await passwd(['remove', 'carol']);
      expect(removed.code, removed.stderr).toBe(0);
      await expect(login('carol')).rejects.toThrow();
      expect(await server.stop()).toBe(0);
    });
  }
});
