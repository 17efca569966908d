import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyway, makeKey, tempDir } from './helpers.js';

const FIXTURE = join(import.meta.dirname, 'fixtures', 'calculator.mjs');

let dir: string;
let cleanup: () => Promise<void>;
const p = (name: string) => join(dir, name);

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
  await makeKey(p('host_key'), 'host');
});
afterAll(() => cleanup());

const anonymous = () => ['--host-key', p('host_key'), '--auth', 'anonymous', '--port', '0'];

describe('keyway serve: what it says when it cannot start', () => {
  it('a module without a default export: lists its exports and names --export', async () => {
    // Inside the test tree, so that the package import resolves.
    const module = join(import.meta.dirname, 'fixtures', 'named-only.mjs');
    const r = await keyway(['serve', module, ...anonymous()]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('no default export');
    expect(r.stderr).toContain('Calculator, VERSION');
    expect(r.stderr).toContain('--export Calculator');
  });

  it('a TypeScript module: says to build it to JavaScript', async () => {
    await writeFile(
      p('service.ts'),
      "import { Service } from 'keyway-rpc';\nexport default class S extends Service { add(a: number, b: number): number { return a + b; } }\n",
    );
    const r = await keyway(['serve', p('service.ts'), ...anonymous()]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/TypeScript/);
    expect(r.stderr).toContain('service.js');
  });

  it('a module outside any project that imports keyway-rpc: says how to install it', async () => {
    await mkdir(p('lonely'), { recursive: true });
    await writeFile(
      p('lonely/service.mjs'),
      "import { Service } from 'keyway-rpc';\nexport default class S extends Service {}\n",
    );
    const r = await keyway(['serve', p('lonely/service.mjs'), ...anonymous()]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("cannot find the package 'keyway-rpc'");
    expect(r.stderr).toContain(`cd ${p('lonely')} && npm install keyway-rpc`);
  });

  it('a port in use: said once, with what to do', async () => {
    const taken: Server = createServer();
    const port = await new Promise<number>((resolve) =>
      taken.listen(0, '127.0.0.1', () => resolve((taken.address() as { port: number }).port)),
    );
    try {
      const r = await keyway([
        'serve',
        FIXTURE,
        ...anonymous().slice(0, -2),
        '--port',
        String(port),
      ]);
      expect(r.code).toBe(1);
      expect(r.stderr.match(/already in use/g), r.stderr).toHaveLength(1);
      expect(r.stderr).toContain(`127.0.0.1:${port}`);
      expect(r.stderr).toContain('--port');
      expect(r.stderr).not.toContain('server error');
    } finally {
      taken.close();
    }
  });

  it('--auth anonymous on an address other hosts reach: warns before listening', async () => {
    // 192.0.2.1 (TEST-NET-1) is never assigned here, so nothing is ever bound: the warning
    // comes first, then the bind fails.
    const r = await keyway([
      'serve',
      FIXTURE,
      '--host-key',
      p('host_key'),
      '--auth',
      'anonymous',
      '--host',
      '192.0.2.1',
      '--port',
      '0',
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/warning: --auth anonymous on 192\.0\.2\.1 lets anyone who can reach/);
  });

  it('--auth anonymous on loopback: no warning', async () => {
    const r = await keyway(['serve', p('nope.mjs'), ...anonymous()]);
    expect(r.code).toBe(1);
    expect(r.stderr).not.toContain('warning');
  });
});

describe('keyway serve: the banner', () => {
  it('never tells clients to keyscan a wildcard address', async () => {
    const { keyscanHint } = await import('../dist/serve-listen.js');
    const any4 = keyscanHint({ host: '0.0.0.0', port: 18861, family: 'IPv4' }, 'box.example');
    expect(any4).not.toContain('0.0.0.0');
    expect(any4).toBe('keyway keyscan box.example:18861, or 127.0.0.1:18861 on this machine');
    const any6 = keyscanHint({ host: '::', port: 18861, family: 'IPv6' }, 'box.example');
    expect(any6).toBe('keyway keyscan box.example:18861, or [::1]:18861 on this machine');
    expect(keyscanHint({ host: '127.0.0.1', port: 5, family: 'IPv4' })).toBe(
      'keyway keyscan 127.0.0.1:5',
    );
  });
});
