/**
 * The secure layer's debug hook: one function, set by the host (the server package
 * installs one when `KEYWAY_DEBUG` or `NODE_DEBUG=keyway` asks for it), that receives
 * handshake and authentication events. Unset, each hook point costs one variable read.
 */

/** Receives one debug event: its name (`handshake`, `authenticated`, ...) and plain fields. */
export type SecureDebugLogger = (event: string, fields: Readonly<Record<string, unknown>>) => void;

let current: SecureDebugLogger | undefined;

/**
 * Sets (or, with `undefined`, removes) the function that receives the secure layer's
 * debug events: on a server `handshake` (a peer connected), `auth` (one method's outcome),
 * `authenticated` or `refused`; on a client `handshake` (connecting), `host-key` (the
 * server's key, checked) and `authenticated` or `refused`. Fields are plain values; a
 * reason never leaves the process. For a whole process, prefer `setDebugLogger` of the
 * server package, which sets the RPC engine's hook too.
 */
export function setSecureDebugLogger(logger: SecureDebugLogger | undefined): void {
  if (logger !== undefined && typeof logger !== 'function') {
    throw new TypeError('the debug logger must be a function or undefined');
  }
  current = logger;
}

/** The debug logger now set, if any. @internal */
export function secureDebugLogger(): SecureDebugLogger | undefined {
  return current;
}
