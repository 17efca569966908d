/**
 * Runs each built example (apps/examples/dist) as a child process, as a user would, and
 * checks what it prints: every example must run to completion by itself.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { connect, type Remote } from 'keyway-rpc';
import { afterAll, describe, expect, it } from 'vitest';
import type { Calculator } from '../src/expose-service.js';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..');

async function example(name: string, ...args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, [join(root, 'dist', `${name}.js`), ...args], {
    cwd: root,
    timeout: 20_000,
  });
  return stdout;
}

const keyDir = mkdtempSync(join(tmpdir(), 'keyway-examples-test-'));
afterAll(() => rmSync(keyDir, { recursive: true, force: true }));

describe('examples', () => {
  it('expose-service prints the host key and address, serves calls, hides _members', async () => {
    const out = await example('expose-service');
    expect(out).toMatch(/^host key fingerprint: SHA256:[A-Za-z0-9+/]{43}$/m);
    expect(out).toMatch(/^listening on 127\.0\.0\.1:\d+$/m);
    expect(out).toContain('add(2, 3) = 5\nadd(40, 2) = 42\ncalls() = 2\n');
    expect(out).toContain('_secret is not exposed: AccessDeniedError');
    expect(out.trimEnd().endsWith('server closed')).toBe(true);
  });

  it('expose-service --serve keeps serving other clients until SIGINT', async () => {
    const child = spawn(process.execPath, [join(root, 'dist/expose-service.js'), '--serve'], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.setEncoding('utf8');
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no address in: ${out}`)), 10_000);
      child.stdout.on('data', (chunk: string) => {
        out += chunk;
        const found = /listening on 127\.0\.0\.1:(\d+)/.exec(out);
        if (found && out.includes('serving until Ctrl-C')) {
          clearTimeout(timer);
          resolve(Number(found[1]));
        }
      });
    });
    // The printed fingerprint is for a human to compare; this test does not pin the key.
    const conn = await connect('127.0.0.1', port, { hostKeyPolicy: 'insecure-any' });
    expect(await (conn.root as Remote<Calculator>).add(7, 8)).toBe(15);
    await conn.close();
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(out).toContain('server closed');
  });

  it('key-client logs in with its key, uses a remote object and a callback', async () => {
    const out = await example('key-client');
    expect(out).toMatch(/^the server sees: alice@example \(SHA256:[A-Za-z0-9+/]{43}\)$/m);
    expect(out).toContain('notebook lines: 2\nnotebook "groceries": milk, eggs\n');
    expect(out).toContain(
      'callback from the server: 3\ncallback from the server: 2\ncallback from the server: 1\n' +
        'countdown returned: lift-off\nclosed\n',
    );
    // Without a directory argument the key files went to a temp directory, now removed.
    const dir = /^key files in (.+)$/m.exec(out)?.[1];
    expect(dir).toBeDefined();
    expect(() => statSync(dir as string)).toThrow();
  });

  it('key-client makes key files on first run and reuses them after', async () => {
    const first = await example('key-client', keyDir);
    const second = await example('key-client', keyDir);
    expect(first).toContain(`made ${join(keyDir, 'host_key')}`);
    expect(first).toContain(`made ${join(keyDir, 'id_ed25519')}`);
    expect(second).not.toContain('made ');
    const who = (out: string) => /^the server sees: (.+)$/m.exec(out)?.[1];
    const host = (out: string) => /^server (SHA256:\S+) on /m.exec(out)?.[1];
    expect(who(second)).toBe(who(first));
    expect(host(second)).toBe(host(first));
    expect(statSync(join(keyDir, 'id_ed25519')).mode & 0o077).toBe(0);
    expect(readFileSync(join(keyDir, 'authorized_keys'), 'utf8')).toContain('alice@example');
    expect(readFileSync(join(keyDir, 'known_hosts'), 'utf8')).toMatch(
      /^\[127\.0\.0\.1\]:\d+ ssh-ed25519 /m,
    );
  });

  it('ip-and-key admits alice, refuses mallory by key and alice by address', async () => {
    const out = await example('ip-and-key');
    expect(out).toContain('alice: admitted, add(20, 22) = 42');
    expect(out).toContain('mallory: refused (AuthenticationError: authentication failed)');
    expect(out).toMatch(/server log: publickey failure from 127\.0\.0\.1 .*: key not authorized/);
    expect(out).toContain('server log: ip failure from 127.0.0.1: address not in allow-list');
    const second = out.slice(out.indexOf('server 2 admits only 10.0.0.0/8'));
    expect(second).toMatch(/^alice: refused \(/m);
    expect(second).not.toContain('admitted');
    expect(out.trimEnd().endsWith('done')).toBe(true);
  });
});
