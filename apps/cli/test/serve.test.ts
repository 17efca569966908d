import { type ChildProcess, spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect, KnownHosts, loadIdentity, type Remote } from 'keyway-rpc';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { keyway, MAIN, makeKey, tempDir } from './helpers.js';

const FIXTURE = join(import.meta.dirname, 'fixtures', 'calculator.mjs');

interface Calculator {
  add(a: number, b: number): number;
  whoami(): string;
}

let dir: string;
let cleanup: () => Promise<void>;
const p = (name: string) => join(dir, name);
const running = new Set<ChildProcess>();

interface Served {
  port: number;
  stderr: () => string;
  /** Sends SIGINT and resolves with the exit code. */
  stop: () => Promise<number | null>;
}

/** Starts `keyway serve` and waits for the line naming its address. */
function serve(args: string[]): Promise<Served> {
  const child = spawn(process.execPath, [MAIN, 'serve', ...args], {
    env: { ...process.env, HOME: p('home') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let stdout = '';
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${stderr}`)), 15_000);
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      const match = / on 127\.0\.0\.1:(\d+)/.exec(stdout);
      if (match) {
        clearTimeout(timer);
        resolve({
          port: Number(match[1]),
          stderr: () => stderr,
          stop: async () => {
            child.kill('SIGINT');
            const code = await exited;
            running.delete(child);
            return code;
          },
        });
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code}: ${stderr}`));
    });
  });
}

async function knownHostsFor(port: number): Promise<KnownHosts> {
  const scan = await keyway(['keyscan', `127.0.0.1:${port}`]);
  expect(scan.code, scan.stderr).toBe(0);
  return KnownHosts.parse(scan.stdout);
}

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
  await makeKey(p('host_key'), 'host');
  await makeKey(p('alice'), 'alice');
  await makeKey(p('mallory'), 'mallory');
  await keyway(['authorized-keys', 'add', p('alice.pub'), '--file', p('authorized_keys')]);
});
afterEach(() => {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
});
afterAll(() => cleanup());

describe('keyway serve', () => {
  it('serves a module with public-key auth; a wrong key is refused; Ctrl-C closes with exit 0', async () => {
    const server = await serve([
      FIXTURE,
      '--port',
      '0',
      '--host-key',
      p('host_key'),
      '--authorized-keys',
      p('authorized_keys'),
    ]);
    const knownHosts = await knownHostsFor(server.port);
    const conn = await connect('127.0.0.1', server.port, {
      identity: await loadIdentity(p('alice')),
      knownHosts,
    });
    const calc = conn.root as Remote<Calculator>;
    expect(await calc.add(2, 3)).toBe(5);
    const alice = (await keyway(['fingerprint', p('alice.pub')])).stdout.split(' ')[1];
    expect(await calc.whoami()).toBe(alice);
    await conn.close();
    await expect(
      connect('127.0.0.1', server.port, { identity: await loadIdentity(p('mallory')), knownHosts }),
    ).rejects.toThrow();
    expect(await server.stop()).toBe(0);
    expect(server.stderr()).toContain('refused publickey');
    expect(server.stderr()).toContain('closed');
  });

  it('serves with password auth from a keyway passwd file', async () => {
    const add = await keyway(
      ['passwd', 'add', 'bob', '--host-key', p('host_key'), '--ksf', 'scrypt:N=1024,r=8,p=1'],
      { input: 'bobs password\n', home: p('home') },
    );
    expect(add.code, add.stderr).toBe(0);
    const server = await serve([
      FIXTURE,
      '--port',
      '0',
      '--auth',
      'password',
      '--host-key',
      p('host_key'),
    ]);
    const knownHosts = await knownHostsFor(server.port);
    const conn = await connect('127.0.0.1', server.port, {
      knownHosts,
      username: 'bob',
      password: 'bobs password',
      // The record uses cheap stretching, below a client's default floor.
      ksfBounds: { scryptMinMemoryBytes: 0 },
    });
    expect(await (conn.root as Remote<Calculator>).whoami()).toBe('bob');
    await conn.close();
    await expect(
      connect('127.0.0.1', server.port, {
        knownHosts,
        username: 'bob',
        password: 'wrong',
        ksfBounds: { scryptMinMemoryBytes: 0 },
      }),
    ).rejects.toThrow();
    expect(await server.stop()).toBe(0);
  });

  it('serves anonymously on a worker pool', async () => {
    const server = await serve([
      FIXTURE,
      '--port',
      '0',
      '--auth',
      'anonymous',
      '--pool',
      '2',
      '--host-key',
      p('host_key'),
    ]);
    const knownHosts = await knownHostsFor(server.port);
    const conns = await Promise.all(
      [1, 2, 3].map(() => connect('127.0.0.1', server.port, { knownHosts })),
    );
    const sums = await Promise.all(conns.map((c, i) => (c.root as Remote<Calculator>).add(i, 10)));
    expect(sums).toEqual([10, 11, 12]);
    await Promise.all(conns.map((c) => c.close()));
    expect(await server.stop()).toBe(0);
  });

  it('serves on worker processes with --workers', async () => {
    const server = await serve([
      FIXTURE,
      '--port',
      '0',
      '--auth',
      'anonymous',
      '--workers',
      '2',
      '--host-key',
      p('host_key'),
    ]);
    const knownHosts = await knownHostsFor(server.port);
    const conns = await Promise.all(
      [1, 2, 3].map(() => connect('127.0.0.1', server.port, { knownHosts })),
    );
    const sums = await Promise.all(conns.map((c, i) => (c.root as Remote<Calculator>).add(i, 10)));
    expect(sums).toEqual([10, 11, 12]);
    await Promise.all(conns.map((c) => c.close()));
    expect(await server.stop()).toBe(0);
  });

  it('opens an encrypted host key with -P, in pool workers too', async () => {
    await makeKey(p('enc_host'), 'enc', 'host pass');
    const server = await serve([
      FIXTURE,
      '--port',
      '0',
      '--auth',
      'anonymous',
      '--pool',
      '1',
      '--host-key',
      p('enc_host'),
      '-P',
      'host pass',
    ]);
    const knownHosts = await knownHostsFor(server.port);
    const conn = await connect('127.0.0.1', server.port, { knownHosts });
    expect(await (conn.root as Remote<Calculator>).add(20, 22)).toBe(42);
    await conn.close();
    expect(await server.stop()).toBe(0);
    const wrong = await keyway(['serve', FIXTURE, '--host-key', p('enc_host'), '-P', 'nope']);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('incorrect passphrase');
  });

  it('--allow-ip refuses other sources before any cryptography', async () => {
    const server = await serve([
      FIXTURE,
      '--port',
      '0',
      '--auth',
      'anonymous',
      '--allow-ip',
      '10.0.0.0/8',
      '--host-key',
      p('host_key'),
    ]);
    const scan = await keyway(['keyscan', '--timeout', '3000', `127.0.0.1:${server.port}`]);
    expect(scan.code).toBe(1);
    expect(await server.stop()).toBe(0);
    expect(server.stderr()).toContain('refused ip from 127.0.0.1');
  });

  it('fails with what to do: missing module, no such export, missing host key', async () => {
    const missing = await keyway(['serve', p('nope.mjs'), '--host-key', p('host_key')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('nope.mjs: no such file');
    const noExport = await keyway([
      'serve',
      FIXTURE,
      '--export',
      'Calculator',
      '--host-key',
      p('host_key'),
      '--auth',
      'anonymous',
    ]);
    expect(noExport.code).toBe(1);
    expect(noExport.stderr).toContain("no export 'Calculator'");
    await writeFile(p('broken.mjs'), 'export default class {');
    const broken = await keyway([
      'serve',
      p('broken.mjs'),
      '--host-key',
      p('host_key'),
      '--auth',
      'anonymous',
    ]);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toContain('failed to load');
    const noKey = await keyway(['serve', FIXTURE], { home: p('empty-home') });
    expect(noKey.code).toBe(1);
    expect(noKey.stderr).toContain('host_key: no such file');
  });

  it('usage errors exit 2', async () => {
    for (const args of [
      ['serve'],
      ['serve', FIXTURE, '--auth', 'kerberos'],
      ['serve', FIXTURE, '--port', '70000'],
      ['serve', FIXTURE, '--pool', '0'],
      ['serve', FIXTURE, '--workers', '0'],
      ['serve', FIXTURE, '--pool', '1', '--workers', '1'],
      [
        'serve',
        FIXTURE,
        '--auth',
        'anonymous',
        '--host-key',
        p('host_key'),
        '--allow-ip',
        '10.0.0.1/8',
      ],
    ]) {
      const r = await keyway(args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
    }
  });
});
