/**
 * The browser demo as a user sees it: the one-command example starts, headless Chromium
 * (Debian's package, driven by playwright-core) opens the printed address, the page logs
 * in with a password over WebSocket, and a screenshot is taken once it shows that it is
 * connected; the test checks what the page shows and that the screenshot is a real image.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { describe, expect, it } from 'vitest';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const skipReason = existsSync(CHROMIUM)
  ? undefined
  : `no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`;
if (skipReason) console.log(`skipping the browser demo test: ${skipReason}`);

const root = join(import.meta.dirname, '..');

describe.skipIf(skipReason !== undefined)('browser demo', () => {
  it('the page logs in with a password, calls the service, and shows it', async () => {
    const child = spawn(process.execPath, [join(root, 'dist/browser-demo.js')], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const shots = mkdtempSync(join(tmpdir(), 'keyway-demo-shot-'));
    let out = '';
    child.stdout.setEncoding('utf8');
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no address in: ${out}`)), 30_000);
        child.stdout.on('data', (chunk: string) => {
          out += chunk;
          const found = /^open (http:\/\/127\.0\.0\.1:\d+\/)/m.exec(out);
          if (found) {
            clearTimeout(timer);
            resolve(found[1]!);
          }
        });
      });
      const fingerprint = /^host key fingerprint: (SHA256:\S+)$/m.exec(out)?.[1];
      expect(fingerprint).toBeDefined();
      const browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ['--no-sandbox', '--disable-gpu'],
      });
      try {
        const page = await browser.newPage({ viewport: { width: 900, height: 520 } });
        await page.goto(url);
        // Default scrypt (64 MiB) in a worker, on a loaded machine: allow time.
        await page.waitForFunction("document.body.dataset.state !== 'starting'", null, {
          timeout: 60_000,
        });
        const shot = join(shots, 'browser-demo.png');
        await page.screenshot({ path: shot });
        // biome-ignore lint/performance/useDomNodeTextContent: the text as the page renders it
        const text = await page.innerText('body');
        expect(text).toMatch(/connected in \d+ ms/);
        expect(text).toContain('hello demo: logged in with a password the server never saw');
        expect(text).toContain('2 + 3 = 5');
        expect(text).toContain('remote counter: 2');
        expect(text).toContain(`server key ${fingerprint} (pinned)`);
        expect(text).toMatch(/ssh-ed25519 AAAA\S+ keyway@browser/);
        const png = readFileSync(shot);
        expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
        expect(png.readUInt32BE(16)).toBe(900);
        if (process.env.KEYWAY_SCREENSHOT)
          await page.screenshot({ path: process.env.KEYWAY_SCREENSHOT });
      } finally {
        await browser.close();
      }
    } finally {
      child.kill('SIGINT');
      await new Promise((resolve) => child.once('exit', resolve));
      rmSync(shots, { recursive: true, force: true });
    }
  }, 120_000);
});
