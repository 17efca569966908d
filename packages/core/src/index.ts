/**
 * @keyway/core — the RPC engine: transparent remote objects over msgpack, on any
 * message transport (docs/design.md §2-3).
 */
export {
  type AccessPolicy,
  DEFAULT_ACCESS_POLICY,
  Operation,
} from './access-gate.js';
export {
  type BudgetAccount,
  BudgetKind,
  type BudgetLimits,
  type BudgetUsage,
  DEFAULT_BUDGET_LIMITS,
  type ResourceBudget,
  SharedBudget,
} from './budget.js';
export { byteStream, DEFAULT_STREAM_WINDOW_BYTES } from './byte-stream.js';
export { type CallContext, currentCall } from './call-context.js';
export { ClassicService, type ClassicServiceOptions } from './classic-service.js';
export { DEFAULT_MAX_DEPTH, DEFAULT_MAX_ELEMENTS } from './codec.js';
export {
  Connection,
  type ConnectionOptions,
  type ConnectionStats,
  connectTransport,
  DEFAULT_CONNECTION_OPTIONS,
  DEFAULT_KEEPALIVE,
  deleteRemote,
  isRemote,
  type KeepaliveOptions,
  listRemote,
  type PingOptions,
  release,
  type ServiceSpec,
  setRemote,
  withOptions,
} from './connection.js';
export { type DebugLogger, setRpcDebugLogger } from './debug.js';
export {
  DEFAULT_MAX_BUFFERED_BYTES,
  DEFAULT_MAX_MESSAGE_BYTES,
  type DuplexTransportOptions,
  duplexTransport,
} from './duplex-transport.js';
export {
  AccessDeniedError,
  ConnectionClosedError,
  KeywayError,
  type KeywayErrorOptions,
  LimitExceededError,
  MessageTooLargeError,
  ProtocolError,
  type ProtocolErrorOptions,
  RemoteError,
  type RemoteErrorOptions,
  TimeoutError,
} from './errors.js';
export { isLivenessMessage } from './liveness.js';
export { memoryTransportPair } from './memory-transport.js';
export { messagePortTransport } from './message-port-transport.js';
export type {
  Arrived,
  Remote,
  RemoteFunction,
  RemoteMembers,
  RemoteResult,
} from './remote.js';
export type { ErrorClass } from './serialize.js';
export { byRef, Service } from './service.js';
export { PROTOCOL_VERSION } from './session.js';
export type { CallOptions, Stub } from './stub.js';
export type { Transport, TransportReceiver } from './transport.js';
