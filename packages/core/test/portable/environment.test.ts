import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { connectTransport, release } from '../../src/connection.js';
import { TimeoutError } from '../../src/errors.js';
import { memoryTransportPair } from '../../src/memory-transport.js';
import type { Remote } from '../../src/remote.js';
import { Service } from '../../src/service.js';

// These run only in the portable run (vitest.portable.config.ts), after its setup removed
// the Node-only globals; they check that it did, and cover what the other suites of that
// run do not.

class Failing extends Service {
  fail() {
    throw new TimeoutError('thrown on purpose');
  }
}

class Thing {
  id() {
    return 1;
  }
}

class Factory extends Service {
  make(n: number) {
    return Array.from({ length: n }, () => new Thing());
  }
}

describe('portable run', () => {
  it('runs without the globals only Node has', () => {
    const g = globalThis as Record<string, unknown>;
    for (const name of ['setImmediate', 'clearImmediate', 'Buffer', 'global', 'require'])
      expect(g[name], name).toBeUndefined();
    expect((Error as { captureStackTrace?: unknown }).captureStackTrace).toBeUndefined();
  });

  it('rebuilds a registered error class without Error.captureStackTrace', async () => {
    const [a, b] = memoryTransportPair();
    const [server, client] = await Promise.all([
      connectTransport(a, { service: Failing }),
      connectTransport(b),
    ]);
    const failing = client.root as Remote<Failing>;
    const error = await Promise.resolve(failing.fail()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TimeoutError);
    expect((error as Error).message).toBe('thrown on purpose');
    await client.close();
    await server.closed;
  });

  it('a burst of releases is flushed on the next turn of the event loop', async () => {
    const [a, b] = memoryTransportPair();
    const [server, client] = await Promise.all([
      connectTransport(a, { service: Factory }),
      connectTransport(b),
    ]);
    const things = (await (client.root as Remote<Factory>).make(500)) as unknown[];
    expect(server.stats().exports).toBe(500);
    // Hundreds of releases at once are urgent: they go out without waiting for a request.
    for (const thing of things) release(thing);
    const end = Date.now() + 2_000;
    while (server.stats().exports > 0 && Date.now() < end)
      await new Promise((r) => setTimeout(r, 5));
    expect(server.stats().exports).toBe(0);
    await client.close();
    await server.closed;
  });

  it('loads the whole package index', async () => {
    const core = await import('../../src/index.js');
    expect(typeof core.connectTransport).toBe('function');
    expect(typeof core.memoryTransportPair).toBe('function');
  });

  it('no source file but the Node stream transport names a Node-only global', () => {
    // The scheduling shim looks Node's primitives up on globalThis when they exist.
    const allowed = new Set(['duplex-transport.ts', 'timers.ts']);
    const nodeOnly =
      /\b(setImmediate|clearImmediate|process\.|Buffer\b|NodeJS\.|require\(|global\.)/;
    const offenders: string[] = [];
    const dir = new URL('../../src/', import.meta.url);
    for (const file of readdirSync(dir)) {
      if (!file.endsWith('.ts') || allowed.has(file)) continue;
      const lines = readFileSync(new URL(file, dir), 'utf8').split('\n');
      lines.forEach((line, i) => {
        const code = line.replace(/\/\/.*$/, '').trim();
        if (code.startsWith('*') || code.startsWith('/*')) return;
        if (nodeOnly.test(code)) offenders.push(`${file}:${i + 1}: ${code}`);
      });
    }
    expect(offenders).toEqual([]);
  });
});
