/**
 * The RPC engine's debug hook: one function, set by the host (the server package installs
 * one when `KEYWAY_DEBUG` or `NODE_DEBUG=keyway` asks for it), that receives an event name
 * and plain fields for every call served. Unset, each hook point costs one variable read.
 * This package stays free of any runtime's modules: it never writes anywhere itself.
 */

/** Receives one debug event: its name (`call`, `return`, ...) and plain fields. */
export type DebugLogger = (event: string, fields: Readonly<Record<string, unknown>>) => void;

let current: DebugLogger | undefined;

/**
 * Sets (or, with `undefined`, removes) the function that receives the RPC engine's debug
 * events: `call` when a peer's request starts being served (`id`, `op`, `path`) and
 * `return` when it settles (`id`, `ok`, `error`). For a whole process, prefer
 * `setDebugLogger` of the server package, which sets the secure layer's hook too.
 */
export function setRpcDebugLogger(logger: DebugLogger | undefined): void {
  if (logger !== undefined && typeof logger !== 'function') {
    throw new TypeError('the debug logger must be a function or undefined');
  }
  current = logger;
}

/** The debug logger now set, if any. @internal */
export function rpcDebugLogger(): DebugLogger | undefined {
  return current;
}
