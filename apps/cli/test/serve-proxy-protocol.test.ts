/** `keyway serve --proxy-protocol`: trusted balancers must send a PROXY header. */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer, connect as netConnect, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyway, MAIN, makeKey, tempDir } from './helpers.js';

const FIXTURE = join(import.meta.dirname, 'fixtures', 'calculator.mjs');
let dir: string;
let cleanup: () => Promise<void>;
const children = new Set<ChildProcess>();
const servers = new Set<Server>();

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
  await makeKey(join(dir, 'host_key'), 'host');
});
afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  for (const server of servers) server.close();
  await cleanup();
});

/** Starts `keyway serve`; resolves with its port and a reader of its stderr. */
function serve(args: string[]): Promise<{ port: number; stderr: () => string }> {
  const child = spawn(process.execPath, [MAIN, 'serve', FIXTURE, '--port', '0', ...args], {
    env: { ...process.env, HOME: join(dir, 'home') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${stderr}`)), 15_000);
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      const match = / on 127\.0\.0\.1:(\d+)/.exec(stdout);
      if (match) {
        clearTimeout(timer);
        resolve({ port: Number(match[1]), stderr: () => stderr });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code}: ${stderr}`));
    });
  });
}

/** A relay on a free port that sends a v1 header naming `source`, then pipes both ways. */
async function relay(port: number, source: string): Promise<number> {
  const server = createServer((client) => {
    const upstream = netConnect({ host: '127.0.0.1', port });
    for (const s of [client, upstream]) s.on('error', () => s.destroy());
    upstream.write(`PROXY TCP4 ${source} 127.0.0.1 40000 ${port}\r\n`);
    client.pipe(upstream).pipe(client);
  });
  servers.add(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
}

describe('keyway serve --proxy-protocol', () => {
  it('serves clients through a trusted balancer and refuses a direct one', async () => {
    const server = await serve([
      '--auth',
      'anonymous',
      '--host-key',
      join(dir, 'host_key'),
      '--proxy-protocol',
      '127.0.0.1',
      '--allow-ip',
      '192.0.2.0/24',
    ]);
    const front = await relay(server.port, '192.0.2.7');
    const through = await keyway(['keyscan', '--timeout', '5000', `127.0.0.1:${front}`]);
    expect(through.code, through.stderr).toBe(0);
    const direct = await keyway(['keyscan', '--timeout', '5000', `127.0.0.1:${server.port}`]);
    expect(direct.code).toBe(1);
    const deadline = Date.now() + 5_000;
    while (!server.stderr().includes('no PROXY protocol header') && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(server.stderr()).toContain(
      'dropped a connection from 127.0.0.1: proxy-protocol (no PROXY protocol header)',
    );
  });

  it('a bad CIDR is a usage error', async () => {
    const bad = await keyway([
      'serve',
      FIXTURE,
      '--auth',
      'anonymous',
      '--host-key',
      join(dir, 'host_key'),
      '--proxy-protocol',
      '10.0.0.300/8',
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('bad --proxy-protocol');
  });
});
