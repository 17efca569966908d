/**
 * The packages as a user gets them from npm. Every published package is packed with
 * `pnpm pack` (the built `dist/` must exist: CI builds before it tests), the tarballs are
 * installed together with npm into a fresh project in the system temp directory, outside
 * the repository, and that project then runs the `keyway` bin, imports `keyway-rpc` as ES
 * module and through `require()`, and type-checks a strict NodeNext TypeScript file that
 * uses the public API — and the examples the READMEs show — with the repository's pinned
 * TypeScript. A file missing from a tarball, a `workspace:` range npm cannot satisfy, a
 * bin without its shebang or a declaration that does not compile fails here.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, relative, resolve, sep } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const repo = resolve(import.meta.dirname, '..');

/** The published packages: directory in the repository, npm name. */
const PUBLISHED = [
  { dir: 'packages/core', name: '@keyway/core' },
  { dir: 'packages/secure', name: '@keyway/secure' },
  { dir: 'packages/server', name: '@keyway/server' },
  { dir: 'packages/browser', name: '@keyway/browser' },
  { dir: 'packages/keyway', name: 'keyway-rpc' },
  { dir: 'apps/cli', name: 'keyway-cli' },
] as const;

/** Packages that stay in the repository; `pnpm pack` must never be their way out. */
const PRIVATE = ['apps/examples', 'benchmarks', 'test'] as const;

/** Bounds for each child process, generous because the machine may be loaded. */
const PACK_TIMEOUT_MS = 60_000;
const INSTALL_TIMEOUT_MS = 180_000;
const RUN_TIMEOUT_MS = 60_000;

interface Manifest {
  name: string;
  version: string;
  private?: boolean;
  bin?: Record<string, string>;
  files?: string[];
  dependencies?: Record<string, string>;
  imports?: Record<string, ImportTarget>;
}

/** A value of the `imports` map: a path, or conditions mapping to more of them. */
type ImportTarget = string | { [condition: string]: ImportTarget };

interface Ran {
  stdout: string;
  stderr: string;
}

/**
 * The environment for npm and the installed programs: the caller's, without what pnpm
 * adds for the script it runs and without the repository's `node_modules/.bin` on PATH, so
 * nothing resolves through the workspace by accident.
 */
function outsideEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(npm_(package|lifecycle)_|npm_(execpath|node_execpath)$|pnpm_|PNPM_)/i.test(key))
      continue;
    if (/^(VITEST|TEST$|NODE_OPTIONS$)/.test(key)) continue;
    env[key] = value;
  }
  env.PATH = (process.env.PATH ?? '')
    .split(delimiter)
    .filter((entry) => entry !== '' && !`${resolve(entry)}${sep}`.startsWith(`${repo}${sep}`))
    .join(delimiter);
  env.NO_COLOR = '1';
  return env;
}

/** Runs a program; rejects with its output when it fails or outlives `timeout`. */
function run(file: string, args: readonly string[], cwd: string, timeout = RUN_TIMEOUT_MS) {
  return new Promise<Ran>((done, fail) => {
    execFile(
      file,
      args,
      { cwd, env: outsideEnv(), timeout, maxBuffer: 32 * 1024 * 1024, killSignal: 'SIGKILL' },
      (error, stdout, stderr) => {
        if (error) {
          const why = error.killed ? `killed after ${timeout} ms` : error.message;
          fail(new Error(`${file} ${args.join(' ')}: ${why}\n${stdout}\n${stderr}`));
        } else done({ stdout, stderr });
      },
    );
  });
}

function manifestOf(dir: string): Manifest {
  return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Manifest;
}

/** Every file under `dir`, as paths relative to it with `/` separators. */
function filesUnder(dir: string, base = dir): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...filesUnder(path, base));
    else out.push(relative(base, path).split(sep).join('/'));
  }
  return out;
}

/** The module specifiers a built file names: static imports, re-exports, `import()`. */
function specifiersIn(source: string): string[] {
  const found: string[] = [];
  const patterns = [
    /^\s*(?:import|export)\s[^'"]*?\bfrom\s*['"]([^'"]+)['"]/gm,
    /^\s*import\s*['"]([^'"]+)['"]/gm,
    /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  for (const pattern of patterns) for (const m of source.matchAll(pattern)) found.push(m[1]!);
  return found;
}

/** The npm package a bare specifier names (`@scope/name/sub` → `@scope/name`). */
function packageOf(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

const BUILTINS = new Set(builtinModules);

/**
 * The files a `#subpath` import can load under any condition, from the manifest's
 * `imports` map (exact keys, or one `*` pattern per key); empty when no key matches.
 */
function subpathTargets(imports: Manifest['imports'], specifier: string): string[] {
  for (const [key, value] of Object.entries(imports ?? {})) {
    const star = key.indexOf('*');
    let fill: string | undefined;
    if (star < 0) {
      if (key === specifier) fill = '';
    } else if (
      specifier.startsWith(key.slice(0, star)) &&
      specifier.endsWith(key.slice(star + 1)) &&
      specifier.length >= key.length - 1
    ) {
      fill = specifier.slice(star, specifier.length - (key.length - star - 1));
    }
    if (fill === undefined) continue;
    const out: string[] = [];
    const walk = (target: ImportTarget): void => {
      if (typeof target === 'string') out.push(target.replace('*', fill));
      else for (const next of Object.values(target)) walk(next);
    };
    walk(value);
    return out;
  }
  return [];
}

/** The fenced blocks of one language in a Markdown text, in order. */
function fencedBlocks(markdown: string, language: string): string[] {
  const re = new RegExp(`^\`\`\`${language}\\n([\\s\\S]*?)^\`\`\`$`, 'gm');
  return [...markdown.matchAll(re)].map((m) => m[1]!);
}

let work = '';
let project = '';
const tarballs = new Map<string, string>();

const installed = (name: string) => join(project, 'node_modules', ...name.split('/'));

beforeAll(async () => {
  for (const { dir } of PUBLISHED) {
    if (!existsSync(join(repo, dir, 'dist', dir === 'apps/cli' ? 'main.js' : 'index.js'))) {
      throw new Error(`${dir}/dist is missing: run \`pnpm build\` before this test`);
    }
  }
  work = await mkdtemp(join(tmpdir(), 'keyway-pack-'));
  const packs = join(work, 'tarballs');
  await mkdir(packs);
  // One at a time: the machine is small, and each pack is quick.
  for (const { dir, name } of PUBLISHED) {
    const before = new Set(readdirSync(packs));
    await run('pnpm', ['pack', '--pack-destination', packs], join(repo, dir), PACK_TIMEOUT_MS);
    const made = readdirSync(packs).filter((f) => !before.has(f) && f.endsWith('.tgz'));
    if (made.length !== 1) throw new Error(`pnpm pack in ${dir} made ${made.join(', ')}`);
    tarballs.set(name, join(packs, made[0]!));
  }

  project = join(work, 'app');
  await mkdir(project);
  await run('npm', ['init', '-y'], project);
  await run('npm', ['pkg', 'set', 'type=module'], project);
  // @types/node at the repository's version, as a TypeScript user would have it.
  const typesNode = manifestOf(join(repo, 'test', 'node_modules', '@types', 'node')).version;
  await run(
    'npm',
    [
      'install',
      '--prefer-offline',
      '--no-audit',
      '--no-fund',
      '--loglevel=error',
      ...tarballs.values(),
      `@types/node@${typesNode}`,
    ],
    project,
    INSTALL_TIMEOUT_MS,
  );
}, 240_000);

afterAll(async () => {
  if (work !== '') await rm(work, { recursive: true, force: true });
});

describe('the packages installed from their tarballs with npm, outside the repository', () => {
  it('are exactly the published ones: each public, the rest private', () => {
    for (const { dir, name } of PUBLISHED) {
      const manifest = manifestOf(join(repo, dir));
      expect(manifest.name).toBe(name);
      expect(manifest.private, `${dir} must be publishable`).toBeUndefined();
    }
    for (const dir of PRIVATE) expect(manifestOf(join(repo, dir)).private, dir).toBe(true);
  });

  it('resolves every workspace dependency to the local tarball, never the registry', async () => {
    const lock = JSON.parse(await readFile(join(project, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { version?: string; resolved?: string }>;
    };
    for (const { dir, name } of PUBLISHED) {
      const packed = manifestOf(installed(name));
      expect(packed.version).toBe(manifestOf(join(repo, dir)).version);
      for (const [dep, range] of Object.entries(packed.dependencies ?? {})) {
        expect(range, `${name} → ${dep}`).not.toMatch(/^(workspace|catalog):/);
      }
      const copies = Object.entries(lock.packages).filter(([path]) =>
        path.endsWith(`node_modules/${name}`),
      );
      expect(copies.map(([path]) => path)).toEqual([`node_modules/${name}`]);
      expect(copies[0]![1].resolved, name).toMatch(/^file:/);
    }
  });

  it('ship LICENSE, README and package.json, every file their modules import, and no build info or tests', () => {
    const license = readFileSync(join(repo, 'LICENSE'), 'utf8');
    for (const { name } of PUBLISHED) {
      const root = installed(name);
      const files = filesUnder(root).filter((f) => !f.startsWith('node_modules/'));
      const manifest = manifestOf(root);
      expect(readFileSync(join(root, 'LICENSE'), 'utf8'), `${name} LICENSE`).toBe(license);
      expect(files, name).toContain('README.md');
      const stray = files.filter(
        (f) =>
          f.endsWith('.tsbuildinfo') ||
          /(^|\/)(test|tests|__tests__|fixtures)\//.test(f) ||
          /\.(test|spec)\.[cm]?[jt]s$/.test(f) ||
          /(^|\/)(tsconfig[\w.]*\.json|vitest[\w.]*\.config\.[jt]s)$/.test(f),
      );
      expect(stray, `${name} ships files a user never needs`).toEqual([]);

      const dependencies = new Set(Object.keys(manifest.dependencies ?? {}));
      const unresolved: string[] = [];
      const modules = files.filter((f) => f.startsWith('dist/') && /\.(js|d\.ts)$/.test(f));
      expect(modules.length, name).toBeGreaterThan(0);
      for (const file of modules) {
        const source = readFileSync(join(root, file), 'utf8');
        for (const spec of specifiersIn(source)) {
          if (spec.startsWith('.')) {
            const target = join(dirname(join(root, file)), spec);
            const candidates = file.endsWith('.d.ts')
              ? [target.replace(/\.js$/, '.d.ts'), target]
              : [target];
            if (!candidates.some((c) => existsSync(c))) unresolved.push(`${file}: ${spec}`);
          } else if (spec.startsWith('#')) {
            // A subpath import: every condition's target must be in the tarball.
            const targets = subpathTargets(manifest.imports, spec);
            if (targets.length === 0) unresolved.push(`${file}: ${spec}`);
            for (const target of targets) {
              const path = join(root, target);
              const candidates = file.endsWith('.d.ts')
                ? [path.replace(/\.js$/, '.d.ts'), path]
                : [path];
              if (!candidates.some((c) => existsSync(c)))
                unresolved.push(`${file}: ${spec} → ${target}`);
            }
          } else if (!spec.startsWith('node:') && !BUILTINS.has(spec)) {
            if (!dependencies.has(packageOf(spec))) unresolved.push(`${file}: ${spec}`);
          }
        }
      }
      expect(unresolved, `${name}: imports its tarball or dependencies lack`).toEqual([]);

      for (const target of Object.values(manifest.bin ?? {})) {
        const path = join(root, target);
        expect(readFileSync(path, 'utf8').startsWith('#!/usr/bin/env node\n'), target).toBe(true);
        expect(statSync(path).mode & 0o111, `${target} is executable`).not.toBe(0);
      }
    }
  });

  it(
    'runs `keyway --help` from the installed bin, and through `npx keyway` and `npx keyway-cli`',
    async () => {
      const direct = await run(
        join(project, 'node_modules', '.bin', 'keyway'),
        ['--help'],
        project,
      );
      for (const command of ['keygen', 'known-hosts', 'authorized-keys', 'serve', 'shell']) {
        expect(direct.stdout).toContain(command);
      }
      // `npx keyway` (the bin) and `npx keyway-cli` (the package, as the README says).
      for (const name of ['keyway', 'keyway-cli']) {
        const npx = await run('npx', ['--no-install', name, '--help'], project);
        expect(npx.stdout, `npx ${name} --help`).toBe(direct.stdout);
      }
    },
    RUN_TIMEOUT_MS * 2,
  );

  it(
    'imports keyway-rpc as an ES module and makes an authenticated call over loopback',
    async () => {
      await writeFile(
        join(project, 'esm.mjs'),
        `import { AuthorizedKeys, connect, generateIdentity, KnownHosts, publicKeyAuth, Service,
  ThreadedServer } from 'keyway-rpc';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

class Calculator extends Service {
  add(a, b) { return a + b; }
}
const dir = await mkdtemp(join(tmpdir(), 'keyway-esm-'));
try {
  const hostKey = generateIdentity('host');
  const clientKey = generateIdentity('client');
  const authorizedKeys = await AuthorizedKeys.load(join(dir, 'authorized_keys'));
  authorizedKeys.add(clientKey.publicKeyLine());
  const server = new ThreadedServer(Calculator, {
    host: '127.0.0.1', port: 0,
    authenticator: publicKeyAuth({ identity: hostKey, authorizedKeys }),
  });
  const { port } = await server.listen();
  const knownHosts = await KnownHosts.load(join(dir, 'known_hosts'));
  knownHosts.add('127.0.0.1', port, hostKey.publicKey);
  const conn = await connect('127.0.0.1', port, { identity: clientKey, knownHosts });
  const sum = await conn.root.add(20, 22);
  await conn.close();
  await server.close();
  console.log(JSON.stringify({ sum, fingerprint: clientKey.fingerprint }));
} finally {
  await rm(dir, { recursive: true, force: true });
}
`,
      );
      const { stdout } = await run(process.execPath, ['esm.mjs'], project);
      const result = JSON.parse(stdout) as { sum: number; fingerprint: string };
      expect(result.sum).toBe(42);
      expect(result.fingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    },
    RUN_TIMEOUT_MS * 2,
  );

  it(
    'loads keyway-rpc with require() from CommonJS and calls over a memory pair',
    async () => {
      await writeFile(
        join(project, 'cjs.cjs'),
        `const keyway = require('keyway-rpc');
const { connectTransport, memoryTransportPair, Service, generateIdentity } = keyway;

class Echo extends Service {
  twice(s) { return s + s; }
}
async function main() {
  const [a, b] = memoryTransportPair();
  const [server, client] = await Promise.all([
    connectTransport(a, { service: Echo }),
    connectTransport(b),
  ]);
  const twice = await client.root.twice('ab');
  await client.close();
  await server.closed;
  console.log(JSON.stringify({
    requireModule: process.features.require_module,
    twice,
    identity: typeof generateIdentity('x').fingerprint,
  }));
}
main().catch((error) => { console.error(error); process.exit(1); });
`,
      );
      const { stdout } = await run(process.execPath, ['cjs.cjs'], project);
      expect(JSON.parse(stdout)).toEqual({
        requireModule: true,
        twice: 'abab',
        identity: 'string',
      });
    },
    RUN_TIMEOUT_MS * 2,
  );

  it(
    'type-checks strict NodeNext TypeScript against the public API, the READMEs included',
    async () => {
      const src = join(project, 'src');
      await mkdir(src);
      await writeFile(
        join(src, 'use-api.ts'),
        `import {
  AccessDeniedError, AuthorizedKeys, compose, connect, type Connection, generateIdentity,
  ipAllowlist, KeywayError, KnownHosts, LoginLimiter, memoryTransportPair, connectTransport,
  publicKeyAuth, type Remote, RemoteError, release, Service, ThreadedServer, withOptions,
} from 'keyway-rpc';
import { Service as CoreService } from '@keyway/core';
import { generateIdentity as secureGenerate } from '@keyway/secure';
import { connect as serverConnect } from '@keyway/server';

class Notes {
  #lines: string[] = [];
  write(line: string): number { return this.#lines.push(line); }
}
class Api extends Service {
  add(a: number, b: number): number { return a + b; }
  notes(): Notes { return new Notes(); }
}

export async function use(): Promise<number> {
  const [a, b] = memoryTransportPair();
  const [, client]: Connection[] = await Promise.all([
    connectTransport(a, { service: Api }),
    connectTransport(b),
  ]);
  const api = client.root as Remote<Api>;
  const sum: number = await api.add(1, 2);
  const lines: number = await api.notes().write('x');
  // @ts-expect-error add takes numbers: the stub's types are the service's, not any
  await api.add('1', 2);
  const quick = withOptions(api, { timeout: 500 });
  const notes = api.notes();
  release(notes);
  try {
    await quick.add(1, 2);
  } catch (error) {
    if (error instanceof RemoteError) console.log(error.remoteName, error.code);
    else if (error instanceof AccessDeniedError || error instanceof KeywayError) throw error;
  }
  await client.close();

  const host = generateIdentity('host');
  const keys = await AuthorizedKeys.load('authorized_keys');
  const server = new ThreadedServer(Api, {
    port: 0,
    authenticator: compose(ipAllowlist(['127.0.0.0/8']), publicKeyAuth({ identity: host, authorizedKeys: keys })),
  });
  const address = await server.listen();
  const port = 'port' in address ? address.port : 0;
  const conn = await connect('127.0.0.1', port, {
    identity: generateIdentity('me'),
    knownHosts: await KnownHosts.load('known_hosts'),
  });
  await conn.close();
  await server.close();
  const limiter: LoginLimiter = new LoginLimiter();
  void limiter;
  return sum + lines;
}

// The sub-packages are the same classes and functions as the umbrella's.
export const same: boolean =
  (CoreService as unknown) === Service && secureGenerate === generateIdentity && serverConnect === connect;
`,
      );
      // The examples the READMEs show: each package's, and the main README's first one (it
      // runs on its own; the later ones continue it).
      const readmes = [
        ...PUBLISHED.map(({ dir, name }) => ({ name, file: join(repo, dir, 'README.md') })),
        { name: 'main', file: join(repo, 'README.md') },
      ];
      let snippets = 0;
      for (const { name, file } of readmes) {
        const blocks = fencedBlocks(readFileSync(file, 'utf8'), 'ts');
        const chosen = name === 'main' ? blocks.slice(0, 1) : blocks;
        for (const [i, block] of chosen.entries()) {
          const base = `readme-${name.replace(/\W+/g, '-')}-${i}.ts`;
          await writeFile(join(src, base), `${block}\nexport {};\n`);
          snippets++;
        }
      }
      expect(snippets).toBeGreaterThanOrEqual(5);
      await writeFile(
        join(project, 'tsconfig.json'),
        JSON.stringify({
          compilerOptions: {
            target: 'es2022',
            module: 'nodenext',
            moduleResolution: 'nodenext',
            strict: true,
            noEmit: true,
            types: ['node'],
          },
          include: ['src'],
        }),
      );
      // The repository's pinned TypeScript, run on the project outside the repository.
      const tsc = join(repo, 'test', 'node_modules', 'typescript', 'bin', 'tsc');
      const { stdout } = await run(process.execPath, [tsc, '-p', project], project).catch(
        (error: Error) => ({ stdout: error.message }),
      );
      expect(stdout.replaceAll(`${project}${sep}`, '')).toBe('');
    },
    RUN_TIMEOUT_MS * 2,
  );
});
