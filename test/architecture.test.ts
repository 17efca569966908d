/**
 * The dependency direction is architecture: core knows only msgpackr, secure only the
 * @noble libraries (and bcrypt-pbkdf for OpenSSH key files), server is where they meet,
 * and the umbrella package only re-exports. A wrong edge, in package.json or in an import,
 * fails this test.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');

/** Runtime dependencies each package may have; anything else is a wrong edge. */
const ALLOWED: Readonly<Record<string, readonly (string | RegExp)[]>> = {
  '@keyway/core': ['msgpackr'],
  '@keyway/secure': [/^@noble\//, 'bcrypt-pbkdf'],
  // Its published declarations name `ws` types, so a user's tsc needs @types/ws.
  '@keyway/server': ['@keyway/core', '@keyway/secure', 'piscina', 'ws', '@types/ws'],
  '@keyway/browser': ['@keyway/core', '@keyway/secure'],
  'keyway-rpc': ['@keyway/core', '@keyway/secure', '@keyway/server', '@keyway/browser'],
};

interface Manifest {
  name: string;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}

function packageDirs(): string[] {
  return readdirSync(join(root, 'packages')).map((d) => join(root, 'packages', d));
}

function readManifest(dir: string): Manifest {
  return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Manifest;
}

function allowed(pkg: string, dep: string): boolean {
  const rules = ALLOWED[pkg];
  if (!rules) return false;
  return rules.some((r) => (typeof r === 'string' ? r === dep : r.test(dep)));
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path));
    else if (/\.(ts|mts|js|mjs)$/.test(entry)) out.push(path);
  }
  return out;
}

/** Bare module specifiers imported by a source file (static, dynamic and re-exports). */
function importedModules(text: string): string[] {
  const specs: string[] = [];
  // Static imports and re-exports (`import x from 'm'`, `export { y } from 'm'`), bare
  // imports (`import 'm'`) and dynamic imports (`import('m')`); string literals elsewhere
  // that merely contain the word `from` are not imports.
  const pattern =
    /^\s*(?:import|export)\b[^;'"]*?\bfrom\s*['"]([^'"]+)['"]|^\s*import\s*['"]([^'"]+)['"]|\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/gm;
  for (const m of text.matchAll(pattern)) {
    const spec = m[1] ?? m[2] ?? m[3];
    // `#…` names the package's own files through its package.json "imports" map.
    if (
      spec !== undefined &&
      !spec.startsWith('.') &&
      !spec.startsWith('node:') &&
      !spec.startsWith('#')
    )
      specs.push(spec);
  }
  return specs;
}

/** `@scope/name/sub` -> `@scope/name`, `name/sub` -> `name`. */
function packageOf(spec: string): string {
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? spec);
}

describe('architecture: dependency direction', () => {
  it('knows every package under packages/', () => {
    const names = packageDirs().map((d) => readManifest(d).name);
    expect(names.sort()).toEqual(Object.keys(ALLOWED).sort());
  });

  for (const dir of packageDirs()) {
    const manifest = readManifest(dir);
    it(`${manifest.name} declares only allowed runtime dependencies`, () => {
      const deps = {
        ...manifest.dependencies,
        ...manifest.peerDependencies,
        ...manifest.optionalDependencies,
      };
      const wrong = Object.keys(deps).filter((d) => !allowed(manifest.name, d));
      expect(wrong, `${manifest.name} must not depend on ${wrong.join(', ')}`).toEqual([]);
    });

    it(`${manifest.name} imports only its allowed dependencies`, () => {
      const wrong: string[] = [];
      for (const file of sourceFiles(join(dir, 'src'))) {
        for (const spec of importedModules(readFileSync(file, 'utf8'))) {
          if (!allowed(manifest.name, packageOf(spec)))
            wrong.push(`${relative(root, file)}: ${spec}`);
        }
        // Reaching into another package by relative path is a wrong edge too.
        for (const m of readFileSync(file, 'utf8').matchAll(/from\s*['"](\.{1,2}\/[^'"]*)['"]/g)) {
          const target = resolve(dirname(file), m[1]!);
          if (relative(dir, target).startsWith('..')) {
            wrong.push(`${relative(root, file)}: relative import outside the package`);
          }
        }
      }
      expect(wrong).toEqual([]);
    });
  }

  it('the umbrella package only re-exports', () => {
    const dir = join(root, 'packages', 'keyway', 'src');
    for (const file of sourceFiles(dir)) {
      const code = readFileSync(file, 'utf8')
        .replace(/\/\*[\s\S]*?\*\//g, '')
        .replace(/\/\/.*$/gm, '');
      const statements = code
        .split(';')
        .map((s) => s.trim())
        .filter(Boolean);
      for (const s of statements)
        expect(s).toMatch(/^export\s+(type\s+)?\{[\s\S]*\}\s+from\s+'[^']+'$/);
    }
  });

  it('no package re-exports with export *', () => {
    for (const dir of packageDirs()) {
      const index = readFileSync(join(dir, 'src', 'index.ts'), 'utf8');
      expect(index).not.toMatch(/export\s+\*/);
    }
  });
});
