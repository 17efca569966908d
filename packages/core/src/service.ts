/**
 * Services and by-reference marking (docs/design.md §2-3). A `Service` subclass is what a side
 * exposes as its root: its public prototype methods and getters are reachable by the peer,
 * the lifecycle hooks and everything on `Service.prototype` are not.
 */
import type { Connection } from './connection.js';

/**
 * Base class of exposed services. Pass a subclass to `connectTransport` (or a server) for
 * one instance per connection, or an instance to share it between connections.
 * @example
 * class Calculator extends Service {
 *   add(a: number, b: number) { return a + b; }
 * }
 */
export class Service {
  /**
   * Runs once the connection is established and before the first request of the peer is
   * answered. May be async. Never callable by the peer.
   * @param _connection The connection this service now serves.
   */
  onConnect(_connection: Connection): void | Promise<void> {}

  /**
   * Runs once after the connection closed. Never callable by the peer.
   * @param _connection The connection that closed.
   */
  onDisconnect(_connection: Connection): void | Promise<void> {}
}

const BY_REF = new WeakSet<object>();

/**
 * Marks an object so that it is always sent by reference, even when it is a plain object
 * or array. The object's own public (non-`_`) properties become reachable by the peer,
 * as do its class's public methods.
 * @param value The object to mark.
 * @returns The same object.
 * @example
 * return byRef({ count: 0, increment() { this.count++; } });
 */
export function byRef<T extends object>(value: T): T {
  if ((typeof value !== 'object' && typeof value !== 'function') || value === null)
    throw new TypeError('byRef(value): value must be an object or a function');
  BY_REF.add(value);
  return value;
}

/** Whether `value` was marked with {@link byRef}. */
export function isByRef(value: object): boolean {
  return BY_REF.has(value);
}
