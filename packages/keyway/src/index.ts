/**
 * keyway — the package users import. Re-exports only; every name lives in one of the
 * @keyway/* packages.
 */
export {
  AccessDeniedError,
  ConnectionClosedError,
  KeywayError,
  type KeywayErrorOptions,
  ProtocolError,
  TimeoutError,
  type Transport,
  type TransportReceiver,
} from '@keyway/core';
