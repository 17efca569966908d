/**
 * A fleet for the load-balancer tests and benchmark: `keyway serve` processes started with
 * the command line of the systemd unit in docs/deployment.md, and HAProxy and nginx with
 * that page's configurations, each read from the block marked `tested:` with free ports
 * and temporary paths put in place of the ones shown.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, connect as netConnect } from 'node:net';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..');
const CLI = join(ROOT, 'apps', 'cli', 'dist', 'main.js');
const DOC = join(ROOT, 'docs', 'deployment.md');

/** The ports and paths the documented configurations show, replaced in tests. */
export const DOC_FRONTEND_PORT = 18861;
export const DOC_BACKEND_PORTS = [18871, 18872, 18873] as const;

/** The fenced block after `<!-- tested: name -->` in docs/deployment.md. */
export function documentedConfig(name: string): string {
  const text = readFileSync(DOC, 'utf8');
  const marker = `<!-- tested: ${name} -->`;
  const at = text.indexOf(marker);
  if (at < 0) throw new Error(`docs/deployment.md has no block marked ${marker}`);
  const match = /```[a-z@.]*\n([\s\S]*?)```/.exec(text.slice(at + marker.length));
  if (!match?.[1]) throw new Error(`no fenced block after ${marker}`);
  return match[1];
}

/** The documented configuration with the test's ports in place of the doc's. */
export function withPorts(config: string, frontend: number, backends: readonly number[]): string {
  let out = config.replaceAll(`127.0.0.1:${DOC_FRONTEND_PORT}`, `127.0.0.1:${frontend}`);
  DOC_BACKEND_PORTS.forEach((port, i) => {
    out = out.replaceAll(`127.0.0.1:${port}`, `127.0.0.1:${backends[i]}`);
  });
  return out;
}

/** A port nobody listens on now: bound on 127.0.0.1 port 0, then released. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Why `program` cannot run here, or undefined when it can. */
export function missing(program: string, args: string[]): string | undefined {
  try {
    execFileSync(program, args, { stdio: 'ignore', timeout: 10_000 });
    return undefined;
  } catch (error) {
    return `${program} is not installed (${(error as Error).message.split('\n')[0]}); .ci/run installs it with apt-get`;
  }
}

/** Whether nginx here has the stream module the documented configuration loads. */
export function nginxMissing(): string | undefined {
  const why = missing('nginx', ['-v']);
  if (why) return why;
  const module = /load_module (\S+);/.exec(documentedConfig('nginx.conf'))?.[1];
  try {
    if (module) readFileSync(module);
    return undefined;
  } catch {
    return `nginx has no stream module at ${module} (Debian package libnginx-mod-stream)`;
  }
}

/** A running process with its output so far. */
export interface Running {
  readonly child: ChildProcess;
  output(): string;
  /** Resolves with the exit code (or signal name) once it has exited. */
  readonly exited: Promise<number | string>;
}

function run(command: string, args: string[], options: { cwd?: string } = {}): Running {
  const child = spawn(command, args, { cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    output += d;
  });
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    output += d;
  });
  const exited = new Promise<number | string>((resolve) =>
    child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)),
  );
  return { child, output: () => output, exited };
}

/** Paths the unit's command line names, and the test's files in their place. */
export interface BackendFiles {
  service: string;
  hostKey: string;
  authorizedKeys: string;
}

/**
 * Starts `keyway serve` exactly as the documented unit's `ExecStart` does, for `port`.
 * @returns once it prints the address it serves on
 */
export async function startBackend(port: number, files: BackendFiles): Promise<Running> {
  const unit = documentedConfig('keyway@.service');
  const line = /^ExecStart=(.+)$/m.exec(unit)?.[1];
  if (!line) throw new Error('the documented unit has no ExecStart');
  const replace: Record<string, string> = {
    '%i': String(port),
    '/opt/keyway/service.js': files.service,
    '/etc/keyway/host_key': files.hostKey,
    '/etc/keyway/authorized_keys': files.authorizedKeys,
  };
  const [program, ...args] = line.split(/\s+/).map((word) => replace[word] ?? word);
  if (program !== '/usr/bin/keyway') throw new Error(`unexpected ExecStart program ${program}`);
  const backend = run(process.execPath, [CLI, ...args]);
  const deadline = Date.now() + 20_000;
  while (!backend.output().includes(`on 127.0.0.1:${port}`)) {
    if (Date.now() > deadline || backend.child.exitCode !== null) {
      backend.child.kill('SIGKILL');
      throw new Error(`keyway serve did not start on ${port}: ${backend.output()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return backend;
}

/** Waits until something accepts TCP connections on `port`. */
async function listening(port: number, what: Running, name: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = netConnect({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline || what.child.exitCode !== null) {
      what.child.kill('SIGKILL');
      throw new Error(`${name} did not listen on ${port}: ${what.output()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Starts HAProxy in the foreground with the documented configuration. */
export async function startHaproxy(
  dir: string,
  frontend: number,
  backends: readonly number[],
): Promise<Running> {
  const path = join(dir, 'haproxy.cfg');
  writeFileSync(path, withPorts(documentedConfig('haproxy.cfg'), frontend, backends));
  const haproxy = run('haproxy', ['-db', '-f', path]);
  await listening(frontend, haproxy, 'haproxy');
  return haproxy;
}

/** Starts nginx in the foreground with the documented configuration, prefix `dir`. */
export async function startNginx(
  dir: string,
  frontend: number,
  backends: readonly number[],
): Promise<Running> {
  const path = join(dir, 'nginx.conf');
  writeFileSync(path, withPorts(documentedConfig('nginx.conf'), frontend, backends));
  const nginx = run('nginx', ['-p', dir, '-c', path, '-e', 'stderr', '-g', 'daemon off;']);
  await listening(frontend, nginx, 'nginx');
  return nginx;
}

/** Stops a process: `signal`, then SIGKILL if it has not exited within `ms`. */
export async function stop(what: Running, signal: NodeJS.Signals = 'SIGTERM', ms = 10_000) {
  if (what.child.exitCode !== null || what.child.signalCode !== null) return what.exited;
  what.child.kill(signal);
  const timer = setTimeout(() => what.child.kill('SIGKILL'), ms);
  const code = await what.exited;
  clearTimeout(timer);
  return code;
}
