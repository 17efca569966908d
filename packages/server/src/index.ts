/**
 * @keyway/server — servers and the client `connect()`: where the RPC engine meets the
 * security layer (DESIGN.md §5).
 */
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
export { withNetworkDefaults } from './network-defaults.js';
export { OneShotServer } from './one-shot-server.js';
export type { AuthenticatorModule } from './pool-task.js';
export type { ServerStats } from './stats.js';
export {
  DEFAULT_POOL_STATS_TIMEOUT_MS,
  type PoolDisconnectEvent,
  type PoolStatsOptions,
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
