/**
 * Classic mode (docs/design.md §3 "Classic mode", RPyC's `ClassicService`): a service that
 * lets the peer import modules and evaluate code in this process. It is the one,
 * deliberate exception to "nothing received is ever evaluated", so it is off unless the
 * owner enables it, and by default it also refuses connections whose credentials prove
 * no identity (none at all, or only an anonymous login or an address check). It always
 * refuses restricted logins (credentials with `restricted`, set by an authorized_keys
 * `restrict` option), as sshd's `restrict` withholds every optional capability.
 *
 * The check belongs to every operation, made with the credentials of the connection whose
 * call is being served: the service can be reached by reference (returned by a method of
 * another service, shared by several connections), not only as a root, and a root login
 * check alone would hand it to whoever got the reference. `onConnect` repeats the check
 * only to refuse a root login early, with its reason.
 */
import { type CallContext, currentCall } from './call-context.js';
import type { Connection } from './connection.js';
import { AccessDeniedError } from './errors.js';
import { byRef, Service } from './service.js';

/** Methods that admit a peer without proving who it is. */
const ANONYMOUS_METHODS = new Set(['anonymous', 'ip']);

/**
 * Whether credentials name who the peer is. keyway's server layer lists the methods that
 * succeeded: an encrypted but anonymous login, or an address check alone, proves no one.
 * Credentials from another server layer (without `methods`) count when present at all.
 */
function provesIdentity(credentials: unknown): boolean {
  if (credentials === undefined || credentials === null) return false;
  const methods = (credentials as { methods?: unknown }).methods;
  if (!Array.isArray(methods)) return true;
  return methods.some((m) => typeof m === 'string' && !ANONYMOUS_METHODS.has(m));
}

/**
 * Whether credentials mark the login as restricted. keyway's server layer sets
 * `restricted: true` for a key whose authorized_keys line says `restrict`. Core cannot
 * import secure's types, so it reads the field structurally; anything but absent or
 * `false` counts, so a malformed value fails closed.
 */
function isRestricted(credentials: unknown): boolean {
  if (typeof credentials !== 'object' || credentials === null) return false;
  const restricted = (credentials as { restricted?: unknown }).restricted;
  return restricted !== undefined && restricted !== false;
}

/** Options of {@link ClassicService}. */
export interface ClassicServiceOptions {
  /** Must be `true`, or every operation is refused. Default `false`. */
  enabled?: boolean;
  /**
   * Serve anonymous connections too (no credentials, or only anonymous/ip). Default
   * `false`. Restricted logins are refused even then.
   */
  allowUnauthenticated?: boolean;
}

/**
 * Remote `import()` and evaluation for trusted, authenticated peers only. A connection
 * whose credentials carry `restricted` (an authorized_keys `restrict` key) is refused.
 * @example
 * connectTransport(t, { service: new ClassicService({ enabled: true }), credentials });
 * // peer: const fs = await root.import('node:fs'); await fs.readFileSync('/etc/hostname', 'utf8');
 */
export class ClassicService extends Service {
  readonly #enabled: boolean;
  readonly #allowUnauthenticated: boolean;

  constructor(options: ClassicServiceOptions = {}) {
    super();
    this.#enabled = options.enabled === true;
    this.#allowUnauthenticated = options.allowUnauthenticated === true;
  }

  /** Refuses a root login that no classic operation would serve, with the reason. */
  override onConnect(connection: Connection): void {
    if (this.#enabled) this.#admit(connection);
  }

  /**
   * Imports a module in the owner's process and returns it by reference.
   * @param specifier A module specifier (`node:fs`, a package name, a file URL).
   * @throws {AccessDeniedError} Unless enabled and called by a peer whose connection
   *   qualifies (see the class description); never outside an incoming call.
   */
  async import(specifier: string): Promise<object> {
    this.#check();
    if (typeof specifier !== 'string') throw new TypeError('import(specifier): a string');
    const namespace = (await import(specifier)) as object;
    return byRef(namespace);
  }

  /**
   * Evaluates JavaScript in the owner's global scope (indirect eval) and returns the
   * result (awaited if it is a promise).
   * @param code The source text.
   * @throws {AccessDeniedError} As for {@link ClassicService.import}.
   */
  async eval(code: string): Promise<unknown> {
    this.#check();
    if (typeof code !== 'string') throw new TypeError('eval(code): a string');
    // biome-ignore lint/security/noGlobalEval: classic mode is the explicit, opt-in remote evaluation RPyC offers.
    const indirectEval = globalThis.eval;
    return await indirectEval(code);
  }

  /** Whether this side has classic mode enabled. */
  get enabled(): boolean {
    return this.#enabled;
  }

  // Runs synchronously at the start of import/eval, while the call context is set.
  #check(): void {
    if (!this.#enabled) throw new AccessDeniedError('classic mode is not enabled on this side');
    let call: CallContext;
    try {
      call = currentCall();
    } catch {
      // Not serving a peer's call: the owner's own code, or a timer or callback a peer
      // arranged (its bound `eval` handed to a method that runs it later). Whose
      // credentials would apply is unknown, so refuse; the owner can use eval itself.
      throw new AccessDeniedError('classic mode serves only calls from a peer');
    }
    this.#admit(call.connection);
  }

  #admit(connection: Connection): void {
    // An explicit per-key restriction outranks the owner's blanket allowUnauthenticated.
    if (isRestricted(connection.credentials))
      throw new AccessDeniedError('classic mode is refused to a restricted login');
    if (!provesIdentity(connection.credentials) && !this.#allowUnauthenticated)
      throw new AccessDeniedError('classic mode needs an authenticated connection');
  }
}
