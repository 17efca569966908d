/**
 * @keyway/core — the RPC engine: transparent remote objects over msgpack, on any
 * message transport (DESIGN.md §2-3).
 */
export {
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
export { memoryTransportPair } from './memory-transport.js';
export { messagePortTransport } from './message-port-transport.js';
export type { Transport, TransportReceiver } from './transport.js';
