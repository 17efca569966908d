/**
 * The test page's script, bundled with esbuild for the browser: keyway's browser client
 * and the scenarios the Chromium test runs in the page, each returning plain data.
 */

import { type Connection, Service, withOptions } from '@keyway/core';
import { type BrowserConnectOptions, browserIdentity, connect } from '../../src/index.js';

/** Remote shapes of the test service (the test server's `Lab`). */
interface Counter {
  increment(): Promise<number>;
}
interface LabApi {
  add(a: number, b: number): Promise<number>;
  open(name: string): Promise<Counter> & Counter;
  callBack(fn: (x: number) => number | Promise<number>, x: number): Promise<number>;
  askPage(): Promise<string>;
  count(n: number): AsyncIterable<number>;
  sleep(ms: number): Promise<number>;
  whoami(): Promise<{ user?: string; publicKey?: { fingerprint: string } }>;
}

/** What the server may call on the page. */
class PageService extends Service {
  title() {
    return `page at ${location.host}`;
  }
}

const open: Connection[] = [];
let workersStarted = 0;
const RealWorker = globalThis.Worker;
// Counts the Web Workers the client starts, so the test can see where scrypt ran.
globalThis.Worker = class extends RealWorker {
  constructor(url: string | URL, options?: WorkerOptions) {
    super(url, options);
    workersStarted++;
  }
};

function describeError(error: unknown): { name: string; code?: string; message: string } {
  const e = error as {
    name?: string;
    code?: string;
    message?: string;
    constructor?: { name?: string };
  };
  return {
    name: e.constructor?.name ?? e.name ?? 'Error',
    ...(e.code !== undefined && { code: e.code }),
    message: String(e.message ?? error),
  };
}

async function attempt<T>(
  work: () => Promise<T>,
): Promise<{ ok: T } | { error: ReturnType<typeof describeError> }> {
  try {
    return { ok: await work() };
  } catch (error) {
    return { error: describeError(error) };
  }
}

const scenarios = {
  async publicKeyLine(name: string): Promise<string> {
    return (await browserIdentity(name)).publicKeyLine();
  },

  async sameIdentityTwice(name: string): Promise<boolean> {
    const a = await browserIdentity(name);
    const b = await browserIdentity(name);
    return a.fingerprint === b.fingerprint;
  },

  connect(
    url: string,
    options: Omit<BrowserConnectOptions, 'identity'> & { identityName?: string },
  ) {
    return attempt(async () => {
      const { identityName, ...rest } = options;
      const conn = await connect(url, {
        ...rest,
        ...(identityName !== undefined && { identity: await browserIdentity(identityName) }),
        service: PageService,
      });
      open.push(conn);
      const lab = conn.root as unknown as LabApi;
      return { whoami: await lab.whoami(), index: open.length - 1 };
    });
  },

  /** Calls, remote objects, callbacks both ways, async iteration and a call timeout. */
  exercise(index: number) {
    return attempt(async () => {
      const lab = open[index]!.root as unknown as LabApi;
      const sum = await lab.add(2, 3);
      const counter = lab.open('clicks');
      const counts = [await counter.increment(), await counter.increment()];
      const calledBack = await lab.callBack((x) => x * 10, 4);
      const pageTitle = await lab.askPage();
      const iterated: number[] = [];
      for await (const n of lab.count(5)) iterated.push(n);
      const timedOut = await attempt(() => withOptions(lab, { timeout: 200 }).sleep(5000));
      return { sum, counts, calledBack, pageTitle, iterated, timedOut };
    });
  },

  async close(index: number): Promise<void> {
    await open[index]?.close();
  },

  workersStarted(): number {
    return workersStarted;
  },

  knownHostsText(): string {
    return localStorage.getItem('keyway:known_hosts') ?? '';
  },

  setKnownHostsText(text: string): void {
    localStorage.setItem('keyway:known_hosts', text);
  },
};

(globalThis as unknown as { scenarios: typeof scenarios }).scenarios = scenarios;
document.title = 'keyway test page ready';
