/**
 * A password login from the browser leaves the password nowhere on the server: the server
 * runs in a process of its own that knows only the host key file and the OPAQUE records;
 * after a page in headless Chromium logs in (and fails once with another password), a
 * V8 heap snapshot of that process and its authentication log lines hold neither
 * password, in one-byte or two-byte form.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateIdentity, opaqueServerFor, PasswordFile } from '@keyway/secure';
import { chromium } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { servePage } from './page-server.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const skipReason = existsSync(CHROMIUM) ? undefined : `no Chromium at ${CHROMIUM}`;
if (skipReason) console.log(`skipping the password memory test: ${skipReason}`);

type Outcome = { ok: { whoami: unknown } } | { error: { name: string } };

describe.skipIf(skipReason !== undefined)('password login from the browser', () => {
  it('leaves no trace of the password in the server process', async () => {
    // Random, so that no source file or constant shared with the server holds it.
    const password = `pw-${randomBytes(18).toString('hex')}`;
    const wrong = `pw-${randomBytes(18).toString('hex')}`;
    const dir = mkdtempSync(join(tmpdir(), 'keyway-pw-memory-'));
    const hostKey = generateIdentity('memory-host');
    const hostKeyPath = join(dir, 'host_key');
    writeFileSync(hostKeyPath, hostKey.toOpenSSH().privateKey, { mode: 0o600 });
    const passwords = await PasswordFile.load(join(dir, 'passwords'));
    await passwords.register(opaqueServerFor(hostKey), 'alice', password, {
      ksf: { algorithm: 'scrypt', N: 1024, r: 8, p: 1 },
    });
    await passwords.save();
    const pages = await servePage();
    let child: ChildProcess | undefined;
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    try {
      child = fork(
        join(import.meta.dirname, 'fixtures', 'password-server.mjs'),
        [hostKeyPath, passwords.path!, pages.origin, dir],
        { execArgv: ['--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
      );
      const server = child;
      const next = () =>
        new Promise<Record<string, unknown>>((resolve) => server.once('message', resolve as never));
      const { port } = (await next()) as { port: number };
      const page = await browser.newPage();
      await page.goto(`${pages.origin}/`);
      await page.waitForFunction("document.title === 'keyway test page ready'");
      const login = (pw: string) =>
        page.evaluate(
          ([url, fingerprint, secret]) =>
            (
              globalThis as unknown as {
                scenarios: { connect(u: string, o: object): Promise<unknown> };
              }
            ).scenarios.connect(url!, {
              hostKey: fingerprint,
              username: 'alice',
              password: secret,
              ksfBounds: { scryptMinMemoryBytes: 0 },
            }),
          [`ws://127.0.0.1:${port}/`, hostKey.fingerprint, pw],
        ) as Promise<Outcome>;
      expect(await login(password)).toMatchObject({ ok: { whoami: 'ok' } });
      expect(await login(wrong)).toMatchObject({ error: { name: 'AuthenticationError' } });
      server.send('snapshot');
      const { snapshot, logs } = (await next()) as { snapshot: string; logs: string[] };
      const heap = readFileSync(snapshot);
      expect(heap.length).toBeGreaterThan(1_000_000);
      // The snapshot does hold what the server was told: the user's name.
      expect(heap.includes(Buffer.from('alice'))).toBe(true);
      for (const secret of [password, wrong]) {
        expect(heap.includes(Buffer.from(secret, 'latin1'))).toBe(false);
        expect(heap.includes(Buffer.from(secret, 'utf16le'))).toBe(false);
        expect(logs.join('\n')).not.toContain(secret);
      }
      expect(logs.length).toBe(2);
    } finally {
      child?.send('exit');
      await browser.close();
      await pages.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
