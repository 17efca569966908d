/**
 * keyway in a real browser: headless Chromium (Debian's `chromium` package, driven by
 * playwright-core, no browser download) loads a page bundled with esbuild for the
 * browser platform, which connects to a ThreadedServer on 127.0.0.1 over WebSocket. It
 * proves key login with an identity made and kept in the page's IndexedDB, refusals of an
 * unknown key and of a changed host key (pinned and trust-on-first-use), password login
 * with scrypt in a Web Worker, calls, remote objects, callbacks both ways, async
 * iteration, a call timeout, and that closing the tab ends the connection and its exports.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Connection, currentCall, Service } from '@keyway/core';
import {
  type AuthLogEvent,
  AuthorizedKeys,
  anyOf,
  generateIdentity,
  opaqueServerFor,
  PasswordFile,
  passwordAuth,
  publicKeyAuth,
} from '@keyway/secure';
import { type AuthenticatedEvent, ThreadedServer } from '@keyway/server';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PageServer, servePage } from './page-server.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const PASSWORD = 'correct horse battery staple, in a browser';
const hostKey = generateIdentity('browser-test-host');
const otherHost = generateIdentity('some-other-host');

class Counter {
  count = 0;
  increment() {
    return ++this.count;
  }
}

/** The service the page talks to. */
class Lab extends Service {
  add(a: number, b: number) {
    return a + b;
  }
  open(_name: string) {
    return new Counter();
  }
  async callBack(fn: (x: number) => Promise<number>, x: number) {
    return fn(x);
  }
  async askPage() {
    const page = currentCall().connection.root as unknown as { title(): Promise<string> };
    return page.title();
  }
  async *count(n: number) {
    for (let i = 1; i <= n; i++) yield i;
  }
  async sleep(ms: number) {
    await new Promise((r) => setTimeout(r, ms));
    return ms;
  }
  whoami() {
    return currentCall().connection.credentials;
  }
}

type Outcome<T> = { ok: T } | { error: { name: string; code?: string; message: string } };

const skipReason = existsSync(CHROMIUM)
  ? undefined
  : `no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`;
if (skipReason) console.log(`skipping the Chromium tests: ${skipReason}`);

describe.skipIf(skipReason !== undefined)('keyway in headless Chromium', () => {
  const dir = mkdtempSync(join(tmpdir(), 'keyway-browser-'));
  const authorizedKeys = AuthorizedKeys.parse('');
  const logs: AuthLogEvent[] = [];
  const served: Connection[] = [];
  let pages: PageServer;
  let server: ThreadedServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let origin: string;
  let wsUrl: string;

  const run = <T>(name: string, ...args: unknown[]): Promise<T> =>
    page.evaluate(
      ([n, a]) =>
        (globalThis as unknown as { scenarios: Record<string, (...x: unknown[]) => unknown> })
          .scenarios[n as string]!(...(a as unknown[])),
      [name, args] as const,
    ) as Promise<T>;

  beforeAll(async () => {
    pages = await servePage();
    origin = pages.origin;

    const passwordsPath = join(dir, 'passwords');
    const passwords = await PasswordFile.load(passwordsPath);
    // Cheap stretching keeps the test fast; the browser accepts it through ksfBounds.
    await passwords.register(opaqueServerFor(hostKey), 'alice', PASSWORD, {
      ksf: { algorithm: 'scrypt', N: 1024, r: 8, p: 1 },
    });
    server = new ThreadedServer(Lab, {
      authenticator: anyOf(
        publicKeyAuth({ identity: hostKey, authorizedKeys }),
        passwordAuth({ identity: hostKey, passwords }),
      ),
      websocket: { path: '/keyway', allowedOrigins: [origin] },
      log: (event) => logs.push(event),
    });
    server.on('authenticated', (e: AuthenticatedEvent) => served.push(e.connection));
    await server.listen();
    wsUrl = `ws://127.0.0.1:${server.websocketAddress!.port}/keyway`;

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      // The CI runs as root, where Chromium's sandbox cannot start.
      args: ['--no-sandbox', '--disable-gpu'],
    });
    // One profile for the test's tabs: they share the origin's IndexedDB and storage.
    context = await browser.newContext();
    page = await context.newPage();
    await page.goto(`${origin}/`);
    await page.waitForFunction(() => document.title === 'keyway test page ready');
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close(0);
    await pages?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('logs in with a key made and kept in IndexedDB, then calls, objects, callbacks, iteration, timeouts', async () => {
    const line = await run<string>('publicKeyLine', 'default');
    expect(line).toMatch(/^ssh-ed25519 AAAA\S+ keyway@browser$/);
    expect(await run<boolean>('sameIdentityTwice', 'default')).toBe(true);
    authorizedKeys.add(line);
    const login = await run<
      Outcome<{ whoami: { publicKey?: { fingerprint: string } }; index: number }>
    >('connect', wsUrl, { identityName: 'default', hostKey: hostKey.fingerprint });
    if (!('ok' in login)) throw new Error(`login failed: ${JSON.stringify(login.error)}`);
    expect(login.ok.whoami.publicKey?.fingerprint).toBe(
      AuthorizedKeys.parse(line).list()[0]!.fingerprint,
    );
    const result = await run<Outcome<Record<string, unknown>>>('exercise', login.ok.index);
    if (!('ok' in result)) throw new Error(`calls failed: ${JSON.stringify(result.error)}`);
    expect(result.ok).toMatchObject({
      sum: 5,
      counts: [1, 2],
      calledBack: 40,
      pageTitle: expect.stringMatching(/^page at 127\.0\.0\.1:\d+$/),
      iterated: [1, 2, 3, 4, 5],
      timedOut: { error: { name: 'TimeoutError', code: 'ERR_TIMEOUT' } },
    });
    await run('close', login.ok.index);
  });

  it('refuses a key the server does not know', async () => {
    const outcome = await run<Outcome<unknown>>('connect', wsUrl, {
      identityName: 'stranger',
      hostKey: hostKey.fingerprint,
    });
    expect(outcome).toMatchObject({ error: { name: 'AuthenticationError' } });
  });

  it('refuses a server whose key is not the pinned one', async () => {
    const outcome = await run<Outcome<unknown>>('connect', wsUrl, {
      identityName: 'default',
      hostKey: otherHost.fingerprint,
    });
    expect(outcome).toMatchObject({ error: { name: 'HostKeyError', code: 'ERR_HOST_KEY' } });
  });

  it('trusts a host key on first use per origin, and refuses it when it changes', async () => {
    await run('setKnownHostsText', '');
    const first = await run<Outcome<{ index: number }>>('connect', wsUrl, {
      identityName: 'default',
    });
    if (!('ok' in first)) throw new Error(`first use failed: ${JSON.stringify(first.error)}`);
    await run('close', first.ok.index);
    const remembered = await run<string>('knownHostsText');
    expect(remembered).toContain(hostKey.publicKeyLine().split(' ')[1]);
    const again = await run<Outcome<{ index: number }>>('connect', wsUrl, {
      identityName: 'default',
    });
    expect('ok' in again).toBe(true);
    if ('ok' in again) await run('close', again.ok.index);

    const port = server.websocketAddress!.port;
    await run('setKnownHostsText', `[127.0.0.1]:${port} ${otherHost.publicKeyLine()}\n`);
    const changed = await run<Outcome<unknown>>('connect', wsUrl, { identityName: 'default' });
    expect(changed).toMatchObject({
      error: { name: 'HostKeyError', message: expect.stringContaining('HOST KEY CHANGED') },
    });
    await run('setKnownHostsText', '');
    const strict = await run<Outcome<unknown>>('connect', wsUrl, {
      identityName: 'default',
      hostKeyPolicy: 'strict',
    });
    expect(strict).toMatchObject({ error: { name: 'HostKeyError' } });
  });

  it('logs in with a password, scrypt running in a Web Worker; refuses a wrong one', async () => {
    const workersBefore = await run<number>('workersStarted');
    const options = {
      hostKey: hostKey.fingerprint,
      username: 'alice',
      ksfWorker: '/ksf-worker.js',
      ksfBounds: { scryptMinMemoryBytes: 0 },
    };
    const good = await run<Outcome<{ whoami: { user?: string }; index: number }>>(
      'connect',
      wsUrl,
      {
        ...options,
        password: PASSWORD,
      },
    );
    if (!('ok' in good)) throw new Error(`password login failed: ${JSON.stringify(good.error)}`);
    expect(good.ok.whoami.user).toBe('alice');
    await run('close', good.ok.index);
    expect(await run<number>('workersStarted')).toBe(workersBefore + 1);
    const wrong = await run<Outcome<unknown>>('connect', wsUrl, { ...options, password: 'nope' });
    expect(wrong).toMatchObject({ error: { name: 'AuthenticationError' } });
    // The server's log lines never carry the password.
    expect(logs.length).toBeGreaterThan(0);
    expect(JSON.stringify(logs)).not.toContain(PASSWORD);
  });

  it('refuses a page from an origin the server does not list', async () => {
    const stranger = await browser.newPage();
    try {
      // Same page, other origin: localhost is not 127.0.0.1 to the origin check.
      await stranger.goto(origin.replace('127.0.0.1', 'localhost'));
      await stranger.waitForFunction(() => document.title === 'keyway test page ready');
      const outcome = await stranger.evaluate(
        (url) =>
          (
            globalThis as unknown as { scenarios: { connect(u: string, o: object): unknown } }
          ).scenarios.connect(url, {}),
        wsUrl,
      );
      expect(outcome).toMatchObject({ error: { name: 'WebSocketOpenError' } });
    } finally {
      await stranger.close();
    }
  });

  it('ends the connection and its exports when the tab closes', async () => {
    // A tab of the same browser profile, so it shares the origin's IndexedDB identity.
    const tab = await context.newPage();
    await tab.goto(`${origin}/`);
    await tab.waitForFunction(() => document.title === 'keyway test page ready');
    const before = served.length;
    const login = (await tab.evaluate(
      ([url, fingerprint]) =>
        (
          globalThis as unknown as { scenarios: { connect(u: string, o: object): unknown } }
        ).scenarios.connect(url as string, { identityName: 'default', hostKey: fingerprint }),
      [wsUrl, hostKey.fingerprint],
    )) as Outcome<{ index: number }>;
    if (!('ok' in login)) throw new Error(`login failed: ${JSON.stringify(login.error)}`);
    // A remote object the page keeps: the server exports it.
    await tab.evaluate(async (index) => {
      const s = globalThis as unknown as { scenarios: { exercise(i: number): Promise<unknown> } };
      await s.scenarios.exercise(index);
    }, login.ok.index);
    const connection = served[before]!;
    expect(connection.stats().exports).toBeGreaterThan(0);
    await tab.close();
    const reason = await Promise.race([
      connection.closed.then(
        () => 'closed',
        () => 'closed',
      ),
      new Promise((r) => setTimeout(() => r('still open'), 15_000)),
    ]);
    expect(reason).toBe('closed');
    expect(connection.stats().exports).toBe(0);
    expect(server.connections.has(connection)).toBe(false);
  });
});
