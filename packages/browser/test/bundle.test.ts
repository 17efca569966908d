/**
 * The browser client bundles for the browser platform without shims: esbuild, told the
 * target is a browser, resolves every import (the `browser` conditions pick noble crypto
 * and scrypt, and no file access), and nothing in the bundle imports a Node built-in.
 */
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

describe('browser bundle', () => {
  it('builds for platform browser with no Node built-in and no Node-only module', async () => {
    const result = await build({
      stdin: {
        contents: `export * from '@keyway/browser'; export * from '@keyway/core';`,
        resolveDir: new URL('..', import.meta.url).pathname,
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
    expect(inputs.some((p) => p.includes('secure/dist/platform/browser/'))).toBe(true);
    const nodeOnly = inputs.filter((p) =>
      /node:|platform\/node\/|node-provider|file-safety|password-file|authorized-keys/.test(p),
    );
    expect(nodeOnly).toEqual([]);
    const code = result.outputFiles[0]!.text;
    expect(code).not.toMatch(/from\s*["']node:|require\(["']node:|import\(["']node:/);
  });
});
