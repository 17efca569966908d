// Prints the minified and gzipped size of the browser client as a page bundles it:
// `connect`, identities and host keys from @keyway/browser with the RPC engine and the
// client half of @keyway/secure, bundled by esbuild for the browser platform.
// Run after `pnpm build`: node scripts/bundle-size.mjs
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const entry = `
  export { connect, browserIdentity, storedKnownHosts, pinnedHostKey } from '@keyway/browser';
  export { Service, release } from '@keyway/core';
`;
const result = await build({
  stdin: { contents: entry, resolveDir: new URL('..', import.meta.url).pathname, loader: 'js' },
  bundle: true,
  minify: true,
  platform: 'browser',
  format: 'esm',
  target: 'es2022',
  write: false,
  metafile: true,
});
const code = result.outputFiles[0].contents;
const gzipped = gzipSync(code, { level: 9 }).length;
const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
console.log(`browser client: ${kib(code.length)} minified, ${kib(gzipped)} minified+gzipped`);
const byPackage = new Map();
for (const [path, info] of Object.entries(Object.values(result.metafile.outputs)[0].inputs)) {
  const m = path.match(/node_modules\/(?:\.pnpm\/[^/]+\/node_modules\/)?((?:@[^/]+\/)?[^/]+)/);
  const ours =
    path.match(/(?:^|\/)(core|secure|browser)\/dist\//) ??
    (path.startsWith('dist/') && [0, 'browser']);
  const name = m ? m[1] : ours ? `@keyway/${ours[1]}` : path;
  byPackage.set(name, (byPackage.get(name) ?? 0) + info.bytesInOutput);
}
for (const [name, bytes] of [...byPackage].sort((a, b) => b[1] - a[1])) {
  console.log(`  ${name.padEnd(24)} ${kib(bytes)}`);
}
