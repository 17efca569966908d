/**
 * Calls per second through HAProxy in front of three `keyway serve` processes, against
 * the same load on one `keyway serve` dialled directly, in one run, rounds interleaved.
 * HAProxy's configuration and the servers' command line are the ones docs/deployment.md
 * shows (read from its blocks marked `tested:`), with free ports put in.
 *
 * Usage: `node dist/load-balancer.js [--rounds N (3)] [--seconds S (3)]
 *   [--clients P (2)] [--connections C per client (6)] [--inflight W per connection (8)]
 *   [--json FILE (results/load-balancer.json)]`
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect as netConnect } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { generateIdentity, KnownHosts } from '@keyway/secure';

const here = dirname(fileURLToPath(import.meta.url));
const ROOT = join(here, '..', '..');
const CLI = join(ROOT, 'apps', 'cli', 'dist', 'main.js');
const DOC = join(ROOT, 'docs', 'deployment.md');

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '3' },
    clients: { type: 'string', default: '2' },
    connections: { type: 'string', default: '6' },
    inflight: { type: 'string', default: '8' },
    json: { type: 'string', default: join(here, '..', 'results', 'load-balancer.json') },
  },
});
const rounds = Number(values.rounds);
const seconds = Number(values.seconds);

function documented(name: string): string {
  const text = readFileSync(DOC, 'utf8');
  const marker = `<!-- tested: ${name} -->`;
  const block = /```[a-z@.]*\n([\s\S]*?)```/.exec(text.slice(text.indexOf(marker)))?.[1];
  if (!text.includes(marker) || !block) throw new Error(`docs/deployment.md lacks ${marker}`);
  return block;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function until(what: string, child: ChildProcess, ready: () => Promise<boolean>) {
  const deadline = Date.now() + 20_000;
  while (!(await ready())) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`${what} did not start`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const accepts = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = netConnect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });

const children: ChildProcess[] = [];
const dir = mkdtempSync(join(tmpdir(), 'keyway-lb-bench-'));
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** `keyway serve` with the documented unit's command line; without the PROXY flag when direct. */
async function serve(port: number, proxied: boolean): Promise<void> {
  const line = /^ExecStart=(.+)$/m.exec(documented('keyway@.service'))?.[1] ?? '';
  const replace: Record<string, string> = {
    '%i': String(port),
    '/opt/keyway/service.js': join(here, 'server-fixtures', 'calculator.js'),
    '/etc/keyway/host_key': join(dir, 'host_key'),
    '/etc/keyway/authorized_keys': join(dir, 'authorized_keys'),
  };
  let args = line
    .split(/\s+/)
    .slice(1)
    .map((w) => replace[w] ?? w);
  if (!proxied) {
    const at = args.indexOf('--proxy-protocol');
    args = [...args.slice(0, at), ...args.slice(at + 2)];
  }
  const child = spawn(process.execPath, [CLI, ...args, '--quiet'], { stdio: 'ignore' });
  children.push(child);
  await until(`keyway serve on ${port}`, child, () => accepts(port));
}

function runClients(port: number): Promise<number> {
  const client = join(here, 'load-balancer-client.js');
  const runs = Array.from(
    { length: Number(values.clients) },
    () =>
      new Promise<{ calls: number; seconds: number }>((resolve, reject) => {
        execFile(
          process.execPath,
          [
            client,
            String(port),
            join(dir, 'client_key'),
            join(dir, `known_hosts_${port}`),
            String(values.connections),
            String(values.inflight),
            String(seconds),
          ],
          { timeout: (seconds + 60) * 1000 },
          (error, stdout) => (error ? reject(error) : resolve(JSON.parse(stdout))),
        );
      }),
  );
  return Promise.all(runs).then((all) => all.reduce((sum, r) => sum + r.calls / r.seconds, 0));
}

const hostKey = generateIdentity('keyway fleet');
const clientKey = generateIdentity('bench');
writeFileSync(join(dir, 'host_key'), hostKey.toOpenSSH().privateKey, { mode: 0o600 });
writeFileSync(join(dir, 'client_key'), clientKey.toOpenSSH().privateKey, { mode: 0o600 });
writeFileSync(join(dir, 'authorized_keys'), `${clientKey.publicKeyLine()}\n`, { mode: 0o600 });

const direct = await freePort();
const backends = [await freePort(), await freePort(), await freePort()];
const frontend = await freePort();
for (const port of [direct, frontend]) {
  const known = KnownHosts.parse('');
  known.add('127.0.0.1', port, hostKey.publicKey);
  writeFileSync(join(dir, `known_hosts_${port}`), known.toString(), { mode: 0o600 });
}
await serve(direct, false);
for (const port of backends) await serve(port, true);
let config = documented('haproxy.cfg').replaceAll('127.0.0.1:18861', `127.0.0.1:${frontend}`);
[18871, 18872, 18873].forEach((doc, i) => {
  config = config.replaceAll(`127.0.0.1:${doc}`, `127.0.0.1:${backends[i]}`);
});
writeFileSync(join(dir, 'haproxy.cfg'), config);
const haproxy = spawn('haproxy', ['-db', '-f', join(dir, 'haproxy.cfg')], { stdio: 'ignore' });
children.push(haproxy);
await until('haproxy', haproxy, () => accepts(frontend));

const samples = { direct: [] as number[], haproxy: [] as number[] };
for (let round = 1; round <= rounds; round++) {
  samples.direct.push(await runClients(direct));
  samples.haproxy.push(await runClients(frontend));
  console.log(
    `round ${round}: direct ${samples.direct.at(-1)?.toFixed(0)} calls/s, through HAProxy ${samples.haproxy.at(-1)?.toFixed(0)} calls/s`,
  );
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const result = {
  benchmark: 'load-balancer',
  cpus: cpus().length,
  rounds,
  seconds,
  clients: Number(values.clients),
  connectionsPerClient: Number(values.connections),
  inflightPerConnection: Number(values.inflight),
  directCallsPerSecond: median(samples.direct),
  haproxyCallsPerSecond: median(samples.haproxy),
  ratio: median(samples.haproxy) / median(samples.direct),
  samples,
};
console.log(
  `median: one keyway serve direct ${result.directCallsPerSecond.toFixed(0)} calls/s; HAProxy + 3 backends ${result.haproxyCallsPerSecond.toFixed(0)} calls/s: ${result.ratio.toFixed(2)}x (${result.cpus} CPUs)`,
);
mkdirSync(dirname(values.json as string), { recursive: true });
writeFileSync(values.json as string, `${JSON.stringify(result, null, 2)}\n`);
console.log(`wrote ${values.json}`);
process.exit(0);
