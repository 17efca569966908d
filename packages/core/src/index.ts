/**
 * @keyway/core — the RPC engine: transparent remote objects over msgpack, on any
 * message transport.
 */
export {
  AccessDeniedError,
  ConnectionClosedError,
  KeywayError,
  type KeywayErrorOptions,
  ProtocolError,
  TimeoutError,
} from './errors.js';
export { memoryTransportPair } from './memory-transport.js';
export type { Transport, TransportReceiver } from './transport.js';
