/**
 * @keyway/server — servers and the client `connect()`: where the RPC engine meets the
 * security layer (DESIGN.md §5).
 */
export type { BudgetOption } from './budget.js';
export { type ConnectOptions, connect, DEFAULT_CONNECT_TIMEOUT_MS } from './connect.js';
export { ConnectionRefusedError, ConnectionResetError } from './errors.js';
export { DEFAULT_SERVER_LIMITS, type ServerLimits } from './limits.js';
export type {
  BoundAddress,
  ConnectionEvent,
  ListenOptions,
  RefusalReason,
  RefusedEvent,
} from './listener.js';
export { OneShotServer } from './one-shot-server.js';
export type { AuthenticatorModule } from './pool-task.js';
export {
  type PoolDisconnectEvent,
  ThreadPoolServer,
  type ThreadPoolServerOptions,
} from './thread-pool-server.js';
export {
  type AuthenticatedEvent,
  type AuthFailureEvent,
  type DisconnectEvent,
  ThreadedServer,
  type ThreadedServerOptions,
} from './threaded-server.js';
