/**
 * The browser demo's page (bundled by src/browser-demo.ts with esbuild): logs in to the
 * demo server over WebSocket with a password — OPAQUE inside the Noise channel, scrypt in
 * a Web Worker — pinning the host key the server printed, then calls the service and
 * shows what it got, and the page's own public key for authorized_keys.
 */
import { browserIdentity, connect } from 'keyway-rpc';

interface DemoApi {
  hello(): Promise<string>;
  add(a: number, b: number): Promise<number>;
  counter(): Promise<{ increment(): Promise<number> }> & { increment(): Promise<number> };
}

const config = JSON.parse(document.getElementById('config')!.textContent!) as {
  hostKey: string;
  path: string;
  user: string;
  password: string;
};

function show(id: string, text: string): void {
  document.getElementById(id)!.textContent = text;
}

async function main(): Promise<void> {
  show('status', 'logging in (scrypt runs in a Web Worker)…');
  const started = performance.now();
  // A path: the WebSocket of the page's own origin.
  const conn = await connect(config.path, {
    hostKey: config.hostKey,
    username: config.user,
    password: config.password,
    ksfWorker: '/ksf-worker.js',
  });
  const loginMs = Math.round(performance.now() - started);
  const api = conn.root as unknown as DemoApi;
  show('hello', await api.hello());
  show('sum', `2 + 3 = ${await api.add(2, 3)}`);
  const counter = api.counter();
  await counter.increment();
  show('counter', `remote counter: ${await counter.increment()}`);
  show('server', `server key ${config.hostKey} (pinned)`);
  show('identity', (await browserIdentity()).publicKeyLine());
  show('status', `connected in ${loginMs} ms`);
  document.body.dataset.state = 'connected';
}

main().catch((error: unknown) => {
  show('status', `failed: ${(error as Error).message}`);
  document.body.dataset.state = 'failed';
});
