/**
 * A long chain of pipelined calls from an anonymous client, end to end (docs/security.md,
 * docs/protocol.md §5, §9): a ThreadedServer with anonymousAuth and default limits runs
 * in its own process, so an unhandled rejection would end it for every client. A chain
 * past `maxPipelineDepth` (default 1,024) is answered link by link with
 * `LimitExceededError`; the process stays up and an honest client keeps working.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type Connection,
  connect,
  generateIdentity,
  KnownHosts,
  LimitExceededError,
  type Remote,
} from 'keyway-rpc';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

interface Chain {
  where(): Chain;
}
interface Query {
  start(): Chain;
  open(): void;
  add(a: number, b: number): number;
}

const DEPTH = 1024;
const hostKey = generateIdentity('chain-host');
const dir = mkdtempSync(join(tmpdir(), 'keyway-chain-'));
let child: ChildProcess;
let port: number;
let exited: number | null | undefined;

beforeAll(async () => {
  const hostKeyPath = join(dir, 'host_key');
  writeFileSync(hostKeyPath, hostKey.toOpenSSH().privateKey, { mode: 0o600 });
  child = spawn(
    process.execPath,
    [join(import.meta.dirname, 'fixtures', 'chain-server.mjs'), hostKeyPath],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  child.once('exit', (code) => {
    exited = code;
  });
  port = await new Promise<number>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      const match = /ready (\d+)/.exec(d.toString());
      if (match) resolve(Number(match[1]));
    });
    child.once('exit', (code) => reject(new Error(`server exited early (${code})`)));
  });
});

afterAll(() => {
  child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

async function anonymous(options = {}): Promise<Connection> {
  const knownHosts = KnownHosts.parse('');
  knownHosts.add('127.0.0.1', port, hostKey.publicKey);
  return connect('127.0.0.1', port, { knownHosts, connection: options });
}

/** Sends start() and `links` calls each pipelined on the previous one; how each ended. */
async function chain(hostile: Connection, honest: Connection, links: number) {
  const api = hostile.root as Remote<Query>;
  const outcomes: Promise<unknown>[] = [];
  let q = api.start() as unknown as Remote<Chain>;
  for (let i = 0; i < links; i++) {
    q = q.where() as unknown as Remote<Chain>;
    outcomes.push(
      Promise.resolve(q).then(
        () => 'ok',
        (error: unknown) => error,
      ),
    );
  }
  // Replies leave in the order requests are served: once this one is back, the server
  // has seen the whole chain (it may be refused too, past the pending-call limit).
  await api.add(1, 2).then(
    () => {},
    () => {},
  );
  await (honest.root as Remote<Query>).open();
  const results = await Promise.all(outcomes);
  let ok = 0;
  let limited = 0;
  for (const result of results) {
    if (result === 'ok') ok++;
    else if (result instanceof LimitExceededError) limited++;
  }
  return { ok, limited };
}

describe('a long pipelined chain from an anonymous client (ThreadedServer, own process)', () => {
  it('3,000 links through the public API: refused past the depth limit, the server stays up', async () => {
    const honest = await anonymous();
    const hostile = await anonymous();
    const { ok, limited } = await chain(hostile, honest, 3000);
    expect(ok).toBe(DEPTH);
    expect(limited).toBe(3000 - DEPTH);
    expect(exited).toBeUndefined();
    expect(await (honest.root as Remote<Query>).add(2, 3)).toBe(5);
    expect(hostile.isClosed).toBe(false);
    await hostile.close();
    await honest.close();
  }, 60_000);

  it('100,000 links: every link answered with a result or LimitExceededError, an honest client still works', async () => {
    const honest = await anonymous();
    // The client lifts its own limit on calls in flight to send the whole chain at once.
    const hostile = await anonymous({ maxPendingCalls: 200_000, timeout: 0 });
    const links = 100_000;
    const { ok, limited } = await chain(hostile, honest, links);
    expect(ok).toBe(DEPTH);
    // Past the depth limit, or past the server's pending-call limit: the same typed error.
    expect(limited).toBe(links - DEPTH);
    expect(exited).toBeUndefined();
    expect(await (honest.root as Remote<Query>).add(2, 3)).toBe(5);
    expect(hostile.isClosed).toBe(false);
    await hostile.close();
    await honest.close();
  }, 120_000);
});
