/**
 * @keyway/server — servers and the client `connect()`: where the RPC engine meets the
 * security layer. Nothing here is exported until it works and is tested.
 */
export {};
