/**
 * @keyway/server — servers and the client `connect()`: where the RPC engine meets the
 * security layer (docs/design.md §5).
 */
export type { BudgetOption } from './budget.js';
export { type ConnectOptions, connect, DEFAULT_CONNECT_TIMEOUT_MS } from './connect.js';
export { debugRequested, formatDebugEvent, setDebugLogger } from './debug.js';
export {
  ConnectionRefusedError,
  ConnectionResetError,
  ProxyProtocolError,
  type ProxyProtocolErrorCode,
} from './errors.js';
export {
  DEFAULT_MAX_STARTUPS,
  DEFAULT_SERVER_LIMITS,
  type MaxStartups,
  type ServerLimits,
} from './limits.js';
export {
  type BoundAddress,
  type ConnectionEvent,
  DEFAULT_SOCKET_MODE,
  type ListenOptions,
  type RefusalReason,
  type RefusedEvent,
} from './listener.js';
export { withNetworkDefaults } from './network-defaults.js';
export {
  DEFAULT_ACCEPT_TIMEOUT_MS,
  OneShotServer,
  type OneShotServerOptions,
} from './one-shot-server.js';
export type { AuthenticatorModule } from './pool-task.js';
export {
  DEFAULT_WORKER_START_TIMEOUT_MS,
  ProcessPoolServer,
  type ProcessPoolServerOptions,
} from './process-pool-server.js';
export {
  DEFAULT_PROXY_HEADER_MAX_BYTES,
  type ProxyEndpoint,
  type ProxyHeader,
  type ProxyParse,
  parseProxyHeader,
} from './proxy-header.js';
export type { ProxyProtocolOptions } from './proxy-protocol.js';
export type { ServerStats } from './stats.js';
export {
  DEFAULT_POOL_STATS_TIMEOUT_MS,
  DEFAULT_RELAY_WINDOW_BYTES,
  type PoolAuthenticatedEvent,
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
export {
  type ConnectWebSocketOptions,
  connectWebSocket,
  webSocketTarget,
} from './websocket-connect.js';
export {
  MAX_WEBSOCKET_PAYLOAD,
  type WebSocketAddress,
  type WebSocketListenOptions,
} from './websocket-listener.js';
export { WEBSOCKET_MESSAGE_BYTES, WebSocketProtocolError } from './websocket-stream.js';
