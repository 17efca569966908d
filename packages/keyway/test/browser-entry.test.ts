/**
 * keyway-rpc's `browser` export condition: a page that imports the umbrella package gets
 * the browser's `connect(url)` and every name of @keyway/browser, and the bundle esbuild
 * makes for the browser platform reaches no Node built-in and no Node-only module.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

function exportedNames(indexDts: string): string[] {
  const names: string[] = [];
  for (const block of indexDts.matchAll(/export (?:type )?\{([^}]*)\} from/g)) {
    for (const part of block[1]!.split(',')) {
      const name = part.replace(/^\s*type\s+/, '').trim();
      if (name) names.push(name);
    }
  }
  return names;
}

describe('keyway-rpc in a browser bundle', () => {
  it('resolves to the browser entry, bundles without Node built-ins', async () => {
    const result = await build({
      stdin: {
        contents: `export { connect, browserIdentity, Service, HostKeyError } from 'keyway-rpc';`,
        resolveDir: fileURLToPath(new URL('..', import.meta.url)),
        loader: 'js',
      },
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      metafile: true,
      logLevel: 'silent',
    });
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.some((p) => /(^|keyway\/)dist\/browser\.js$/.test(p))).toBe(true);
    expect(
      inputs.filter((p) => /platform\/node\/|node-provider|file-safety|server\/dist/.test(p)),
    ).toEqual([]);
    expect(result.outputFiles[0]!.text).not.toMatch(/["']node:/);
  });

  it('re-exports every name of @keyway/browser', () => {
    const browserDts = readFileSync(
      fileURLToPath(new URL('../../browser/dist/index.d.ts', import.meta.url)),
      'utf8',
    );
    const umbrella = exportedNames(
      readFileSync(fileURLToPath(new URL('../dist/browser.d.ts', import.meta.url)), 'utf8'),
    );
    const missing = exportedNames(browserDts).filter((n) => !umbrella.includes(n));
    expect(missing).toEqual([]);
  });
});
