/**
 * The umbrella package re-exports every public name of @keyway/core, @keyway/secure and
 * @keyway/server, except the ones listed below with the reason they are left out. It reads
 * the built packages: the runtime names of each module, and the type-only names of each
 * `index.d.ts` (explicit named re-exports, as every package index is written).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SUB_PACKAGES = ['core', 'secure', 'server'] as const;

const NOISE_INTERNALS =
  'a Noise Protocol Framework building block, for interop tests and other implementations; import it from @keyway/secure';
const OPAQUE_INTERNALS =
  'RFC 9807 OPAQUE machinery under passwordAuth and PasswordFile (the user-facing door); import it from @keyway/secure';
const SAME_NAME =
  'core (duplexTransport) and secure (channel) both export this name with different values; import it from the sub-package';

/** Names deliberately not in the umbrella, each with its reason. */
const NOT_IN_UMBRELLA: Readonly<Record<string, string>> = {
  DEFAULT_MAX_BUFFERED_BYTES: SAME_NAME,
  // Noise spec objects (docs/protocol.md names the handshake; SecureChannel is the door).
  CipherState: NOISE_INTERNALS,
  SymmetricState: NOISE_INTERNALS,
  HandshakeState: NOISE_INTERNALS,
  HandshakeStateOptions: NOISE_INTERNALS,
  HandshakeResult: NOISE_INTERNALS,
  HANDSHAKE_PATTERNS: NOISE_INTERNALS,
  HandshakePattern: NOISE_INTERNALS,
  MessageToken: NOISE_INTERNALS,
  PreMessageToken: NOISE_INTERNALS,
  NoiseHashFunction: NOISE_INTERNALS,
  sha256NoiseHash: NOISE_INTERNALS,
  NOISE_MAX_MESSAGE_BYTES: NOISE_INTERNALS,
  // OPAQUE protocol state machines, messages and their codecs.
  OpaqueClientLogin: OPAQUE_INTERNALS,
  OpaqueClientLoginOptions: OPAQUE_INTERNALS,
  OpaqueClientOptions: OPAQUE_INTERNALS,
  OpaqueClientRegistration: OPAQUE_INTERNALS,
  ClientLoginResult: OPAQUE_INTERNALS,
  ClientRegistrationResult: OPAQUE_INTERNALS,
  OpaqueServer: OPAQUE_INTERNALS,
  OpaqueServerLogin: OPAQUE_INTERNALS,
  OpaqueServerLoginOptions: OPAQUE_INTERNALS,
  OpaqueServerSetup: OPAQUE_INTERNALS,
  OpaqueKeyPair: OPAQUE_INTERNALS,
  generateServerSetup: OPAQUE_INTERNALS,
  deriveServerSetup: OPAQUE_INTERNALS,
  serializeServerSetup: OPAQUE_INTERNALS,
  deserializeServerSetup: OPAQUE_INTERNALS,
  CredentialResponse: OPAQUE_INTERNALS,
  Envelope: OPAQUE_INTERNALS,
  KE1: OPAQUE_INTERNALS,
  KE2: OPAQUE_INTERNALS,
  KE3: OPAQUE_INTERNALS,
  RegistrationRecord: OPAQUE_INTERNALS,
  RegistrationRequest: OPAQUE_INTERNALS,
  RegistrationResponse: OPAQUE_INTERNALS,
  OPAQUE_MESSAGE_SIZES: OPAQUE_INTERNALS,
  serializeKE1: OPAQUE_INTERNALS,
  serializeKE2: OPAQUE_INTERNALS,
  serializeKE3: OPAQUE_INTERNALS,
  deserializeKE1: OPAQUE_INTERNALS,
  deserializeKE2: OPAQUE_INTERNALS,
  deserializeKE3: OPAQUE_INTERNALS,
  serializeRegistrationRecord: OPAQUE_INTERNALS,
  serializeRegistrationRequest: OPAQUE_INTERNALS,
  serializeRegistrationResponse: OPAQUE_INTERNALS,
  deserializeRegistrationRecord: OPAQUE_INTERNALS,
  deserializeRegistrationRequest: OPAQUE_INTERNALS,
  deserializeRegistrationResponse: OPAQUE_INTERNALS,
  LOGIN_MESSAGE_TYPES: OPAQUE_INTERNALS,
  LoginStart: OPAQUE_INTERNALS,
  LoginResponse: OPAQUE_INTERNALS,
  LoginFinish: OPAQUE_INTERNALS,
  encodeLoginStart: OPAQUE_INTERNALS,
  encodeLoginResponse: OPAQUE_INTERNALS,
  encodeLoginFinish: OPAQUE_INTERNALS,
  decodeLoginStart: OPAQUE_INTERNALS,
  decodeLoginResponse: OPAQUE_INTERNALS,
  decodeLoginFinish: OPAQUE_INTERNALS,
  OPAQUE_CONTEXT_LABEL: OPAQUE_INTERNALS,
  opaqueContext: OPAQUE_INTERNALS,
};

const packageDir = (name: string) => new URL(`../../${name}/`, import.meta.url);
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

/** The Markdown a user reads: the READMEs of the repository and its packages, and docs/. */
function markdownFiles(): string[] {
  const files = [join(repoRoot, 'README.md')];
  for (const parent of ['packages', 'apps']) {
    for (const dir of readdirSync(join(repoRoot, parent))) {
      const readme = join(repoRoot, parent, dir, 'README.md');
      if (existsSync(readme)) files.push(readme);
    }
  }
  for (const doc of readdirSync(join(repoRoot, 'docs'))) {
    if (doc.endsWith('.md')) files.push(join(repoRoot, 'docs', doc));
  }
  return files;
}

/** The names a built `index.d.ts` exports (runtime and type-only), by its export lists. */
function declaredNames(dts: URL): Set<string> {
  const text = readFileSync(fileURLToPath(dts), 'utf8');
  if (/export\s*\*/.test(text)) throw new Error(`${dts.pathname} uses export *: list names`);
  const names = new Set<string>();
  for (const match of text.matchAll(/export\s+(?:type\s+)?\{([^}]*)\}/g)) {
    for (const raw of match[1]!.split(',')) {
      const entry = raw.trim().replace(/^type\s+/, '');
      if (entry === '') continue;
      const [name, alias] = entry.split(/\s+as\s+/);
      names.add((alias ?? name)!.trim());
    }
  }
  return names;
}

async function exportsOf(dir: URL): Promise<{ runtime: Set<string>; all: Set<string> }> {
  const runtime = new Set(Object.keys(await import(new URL('dist/index.js', dir).href)));
  const all = declaredNames(new URL('dist/index.d.ts', dir));
  for (const name of runtime) all.add(name);
  return { runtime, all };
}

const umbrella = await exportsOf(new URL('../', import.meta.url));
const subPackages = await Promise.all(
  SUB_PACKAGES.map(async (name) => ({ name, ...(await exportsOf(packageDir(name))) })),
);

const umbrellaBrowser = declaredNames(new URL('../dist/browser.d.ts', import.meta.url));
const browserPackage = declaredNames(new URL('dist/index.d.ts', packageDir('browser')));

describe('the keyway umbrella package', () => {
  for (const sub of subPackages) {
    it(`re-exports every public name of @keyway/${sub.name}`, () => {
      const missing = [...sub.all].filter((n) => !umbrella.all.has(n) && !(n in NOT_IN_UMBRELLA));
      expect(missing, `add to packages/keyway/src/index.ts, or to NOT_IN_UMBRELLA`).toEqual([]);
    });

    it(`re-exports the runtime values of @keyway/${sub.name} as values`, async () => {
      const umbrellaModule = (await import(
        new URL('../dist/index.js', import.meta.url).href
      )) as Record<string, unknown>;
      const subModule = (await import(
        new URL('dist/index.js', packageDir(sub.name)).href
      )) as Record<string, unknown>;
      for (const name of sub.runtime) {
        if (name in NOT_IN_UMBRELLA) continue;
        expect(umbrellaModule[name], name).toBe(subModule[name]);
      }
    });
  }

  it('keeps no stale omission: each one is exported by a sub-package and not by the umbrella', () => {
    for (const name of Object.keys(NOT_IN_UMBRELLA)) {
      expect(
        subPackages.some((s) => s.all.has(name)),
        `${name} is no longer exported by any sub-package`,
      ).toBe(true);
      expect(umbrella.all.has(name), `${name} is in the umbrella after all`).toBe(false);
    }
  });

  it('exports every name an import in the READMEs and docs takes from keyway-rpc or @keyway/*', () => {
    // A page imports keyway-rpc through its `browser` export condition: a name from
    // either entry point is one the umbrella provides.
    const umbrellaAnywhere = new Set([...umbrella.all, ...umbrellaBrowser]);
    const exported: Record<string, Set<string>> = {
      'keyway-rpc': umbrellaAnywhere,
      '@keyway/browser': browserPackage,
    };
    for (const sub of subPackages) exported[`@keyway/${sub.name}`] = sub.all;
    const missing: string[] = [];
    let imports = 0;
    for (const path of markdownFiles()) {
      const text = readFileSync(path, 'utf8');
      const file = relative(repoRoot, path);
      // `keyway` on npm is another project: an import of it is always a mistake.
      for (const match of text.matchAll(/\bfrom\s*['"](keyway|@keyway\/[\w-]+)['"]/g)) {
        if (!(match[1]! in exported)) missing.push(`${file}: imports '${match[1]}'`);
      }
      for (const match of text.matchAll(
        /import\s*\{([^}]*)\}\s*from\s*['"](keyway-rpc|@keyway\/(?:core|secure|server|browser))['"]/g,
      )) {
        const from = match[2]!;
        for (const raw of match[1]!.split(',')) {
          const name = raw
            .trim()
            .replace(/^type\s+/, '')
            .split(/\s+as\s+/)[0]!
            .trim();
          if (name === '') continue;
          imports++;
          if (!exported[from]!.has(name)) missing.push(`${file}: ${name} from '${from}'`);
          // What the docs show is one import away: the umbrella has it too.
          else if (!umbrellaAnywhere.has(name)) missing.push(`${file}: ${name} not in keyway-rpc`);
        }
      }
    }
    expect(imports).toBeGreaterThan(40);
    expect(missing).toEqual([]);
  });
});
