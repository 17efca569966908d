/**
 * Example (d): keyway in a web page. One command bundles a static page with esbuild,
 * serves it over HTTP and runs a ThreadedServer whose WebSocket listener shares that HTTP
 * server: the page logs in with a password (OPAQUE; the server never sees it) over the
 * same Noise channel as TCP clients, pinning the host key printed here.
 *
 * Run from the repository root, then open the printed address:
 *   pnpm --filter @keyway/examples run browser-demo
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import {
  currentCall,
  generateIdentity,
  opaqueServerFor,
  PasswordFile,
  passwordAuth,
  Service,
  ThreadedServer,
} from 'keyway-rpc';

const USER = 'demo';
const PASSWORD = 'keyway demo password';

class Counter {
  #count = 0;
  increment(): number {
    return ++this.#count;
  }
}

/** What the page may call. */
class Demo extends Service {
  hello(): string {
    const { user } = currentCall().connection.credentials as { user?: string };
    return `hello ${user ?? 'stranger'}: logged in with a password the server never saw`;
  }
  add(a: number, b: number): number {
    return a + b;
  }
  counter(): Counter {
    return new Counter();
  }
}

function option(name: string): string | undefined {
  const at = process.argv.indexOf(name);
  return at === -1 ? undefined : process.argv[at + 1];
}

const web = join(import.meta.dirname, '..', 'web');
const bundle = await build({
  entryPoints: { page: join(web, 'page.ts'), 'ksf-worker': join(web, 'ksf-worker.ts') },
  bundle: true,
  minify: true,
  platform: 'browser',
  format: 'esm',
  target: 'es2022',
  outdir: '/',
  write: false,
  logLevel: 'silent',
});
const scripts = new Map(bundle.outputFiles.map((f) => [f.path, f.text]));

const hostKey = generateIdentity('browser-demo-host');
const dir = mkdtempSync(join(tmpdir(), 'keyway-browser-demo-'));
const passwords = await PasswordFile.load(join(dir, 'passwords'));
// Default stretching (scrypt, 64 MiB): what a real deployment uses.
await passwords.register(opaqueServerFor(hostKey), USER, PASSWORD);

const path = '/keyway';
const page = `<!doctype html>
<html><head><meta charset="utf-8"><title>keyway in the browser</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; margin: 2rem; max-width: 46rem; color: #222; }
  h1 { font-size: 1.4rem; } code, #identity { font: 13px ui-monospace, monospace; word-break: break-all; }
  #status { font-weight: bold; } body[data-state=connected] #status { color: #0a7a2f; }
  body[data-state=failed] #status { color: #b00020; }
</style></head>
<body data-state="starting">
<h1>keyway in the browser</h1>
<p id="status">loading…</p>
<p id="hello"></p><p id="sum"></p><p id="counter"></p>
<p><code id="server"></code></p>
<p>This page's key, for authorized_keys:<br><span id="identity"></span></p>
<script type="application/json" id="config">${JSON.stringify({
  hostKey: hostKey.fingerprint,
  path,
  user: USER,
  password: PASSWORD,
})}</script>
<script type="module" src="/page.js"></script>
</body></html>`;

const http = createServer((req, res) => {
  const url = req.url ?? '/';
  if (url === '/') {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page);
    return;
  }
  const script = scripts.get(url);
  if (script !== undefined) {
    res.writeHead(200, { 'content-type': 'text/javascript' }).end(script);
    return;
  }
  res.writeHead(404).end();
});
await new Promise<void>((resolve) =>
  http.listen(Number(option('--port') ?? 0), '127.0.0.1', resolve),
);
const { port } = http.address() as { port: number };
const origin = `http://127.0.0.1:${port}`;

const server = new ThreadedServer(Demo, {
  authenticator: passwordAuth({ identity: hostKey, passwords }),
  websocket: { server: http, path, allowedOrigins: [origin] },
});
await server.listen();
console.log(`host key fingerprint: ${hostKey.fingerprint}`);
console.log(`open ${origin}/ (user ${USER}; the page logs in by itself)`);
console.log('serving until Ctrl-C');

process.once('SIGINT', () => {
  void server.close(1000).then(() => {
    http.close();
    rmSync(dir, { recursive: true, force: true });
    console.log('server closed');
  });
});
