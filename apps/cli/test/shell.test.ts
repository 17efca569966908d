import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AuthorizedKeys,
  connectTransport,
  generateIdentity,
  KnownHosts,
  memoryTransportPair,
  publicKeyAuth,
  Service,
  ThreadedServer,
} from 'keyway-rpc';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { remoteCompletions } from '../src/commands/shell.js';

const main = join(import.meta.dirname, '..', 'dist', 'main.js');

class Lab extends Service {
  add(a: number, b: number) {
    return a + b;
  }
  hostname() {
    return 'lab1';
  }
  halt() {
    return 'halted';
  }
  _secret() {
    return 'never';
  }
}

const hostKey = generateIdentity('shell-host');
const me = generateIdentity('me');
const dir = mkdtempSync(join(tmpdir(), 'keyway-shell-'));
let server: ThreadedServer;
let port: number;

beforeAll(async () => {
  server = new ThreadedServer(Lab, {
    authenticator: publicKeyAuth({
      identity: hostKey,
      authorizedKeys: AuthorizedKeys.parse(me.publicKeyLine()),
    }),
  });
  port = ((await server.listen()) as { port: number }).port;
  writeFileSync(join(dir, 'id'), me.toOpenSSH().privateKey, { mode: 0o600 });
  const known = KnownHosts.parse('');
  known.add('127.0.0.1', port, hostKey.publicKey);
  writeFileSync(join(dir, 'known_hosts'), known.toString(), { mode: 0o600 });
});

afterAll(async () => {
  await server.close(0);
  rmSync(dir, { recursive: true, force: true });
});

function runShell(
  args: string[],
  input: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [main, 'shell', ...args], {
      stdio: 'pipe',
      env: { ...process.env, HOME: dir },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d;
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill(), 15_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(input);
  });
}

describe('keyway shell', () => {
  it('runs a session driven through stdin: calls, awaits, denials, in order', async () => {
    const r = await runShell(
      [`127.0.0.1:${port}`, '-i', join(dir, 'id'), '--known-hosts', join(dir, 'known_hosts')],
      'root.hostname()\nawait root.add(20, 22)\nroot.add(1, 1)\nroot._secret()\n.exit\n',
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`connected to 127.0.0.1:${port}`);
    const results = r.stdout
      .split('keyway> ')
      .slice(1)
      .map((s) => s.trim().split('\n')[0]);
    expect(results.slice(0, 4)).toEqual([
      "'lab1'",
      '42',
      '2',
      'Uncaught AccessDeniedError: call "_secret" denied: name is never exposed',
    ]);
  });

  it('refuses a server it does not know, and says how to fix it', async () => {
    const r = await runShell(
      [`127.0.0.1:${port}`, '-i', join(dir, 'id'), '--known-hosts', join(dir, 'empty')],
      '',
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`is not in ${join(dir, 'empty')}`);
  });

  it('rejects bad arguments with exit code 2', async () => {
    expect((await runShell([], '')).code).toBe(2);
    expect((await runShell(['lab:99999'], '')).code).toBe(2);
    expect((await runShell(['127.0.0.1:1', '--frobnicate'], '')).code).toBe(2);
  });

  it('completes remote member names from the gate, and leaves local names alone', async () => {
    const [a, b] = memoryTransportPair();
    const [, client] = await Promise.all([
      connectTransport(a, { service: Lab }),
      connectTransport(b),
    ]);
    const context = { root: client.root, local: { x: 1 } };
    expect(await remoteCompletions(context, 'await root.h')).toEqual([
      ['root.halt', 'root.hostname'],
      'root.h',
    ]);
    expect(await remoteCompletions(context, 'root.')).toEqual([
      ['root.add', 'root.halt', 'root.hostname'],
      'root.',
    ]);
    expect(remoteCompletions(context, 'local.')).toBeUndefined();
    expect(remoteCompletions(context, 'roo')).toBeUndefined();
    await client.close();
  });
});
