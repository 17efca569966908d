/**
 * Loading a server's service and authenticator from modules, as the servers whose workers
 * run in other threads or processes do (functions cannot be sent there, module names can).
 */
import { pathToFileURL } from 'node:url';
import type { ServiceSpec } from '@keyway/core';
import type { Authenticator } from '@keyway/secure';
import type { AuthenticatorModule } from './pool-task.js';

/** A module specifier for `import()`: URLs as they are, paths as `file:` URLs. */
export function specifier(module: string): string {
  return /^[a-z]+:/i.test(module) ? module : pathToFileURL(module).href;
}

/** Imports `module` and returns its export `name`, a Service class or instance. */
export async function loadService(module: string, name: string): Promise<ServiceSpec> {
  const loaded = (await import(specifier(module))) as Record<string, unknown>;
  const service = loaded[name];
  if (service === undefined || service === null) {
    throw new TypeError(`service module ${module} has no export '${name}'`);
  }
  return service as ServiceSpec;
}

/** Imports the authenticator module and calls its factory with its options. */
export async function loadAuthenticator(spec: AuthenticatorModule): Promise<Authenticator> {
  const loaded = (await import(specifier(spec.module))) as Record<string, unknown>;
  const factory = loaded[spec.export ?? 'default'];
  if (typeof factory !== 'function') {
    throw new TypeError(
      `authenticator module ${spec.module} has no factory '${spec.export ?? 'default'}'`,
    );
  }
  const authenticator = await (
    factory as (options: unknown) => Authenticator | Promise<Authenticator>
  )(spec.options);
  if (typeof authenticator !== 'function') {
    throw new TypeError(`authenticator factory of ${spec.module} did not return an authenticator`);
  }
  return authenticator;
}

/** The promise cached under `key` in `map`, loading it once; a failed load is forgotten. */
export function cached<T>(
  map: Map<string, Promise<T>>,
  key: string,
  load: () => Promise<T>,
): Promise<T> {
  let value = map.get(key);
  if (!value) {
    value = load();
    map.set(key, value);
    // A failed load is retried by the next connection rather than remembered.
    value.catch(() => map.delete(key));
  }
  return value;
}

/** An error as text for the serving thread, with its cause (errors cross threads as text). */
export function describe(error: unknown): string {
  const cause = (error as { cause?: unknown } | null)?.cause;
  return cause === undefined ? String(error) : `${String(error)} (${String(cause)})`;
}
