/**
 * @keyway/browser — keyway in a web page: `connect(url)` over WebSocket with the same
 * Noise handshake, key and password login as on Node; identities kept in IndexedDB; host
 * keys pinned or trusted on first use per origin; scrypt in a Web Worker. No Node
 * built-in is imported at run time.
 */
export {
  type BrowserConnectOptions,
  connect,
  DEFAULT_BROWSER_CONNECT_TIMEOUT_MS,
  WebSocketOpenError,
} from './connect.js';
export {
  DEFAULT_KNOWN_HOSTS_KEY,
  pinnedHostKey,
  storedKnownHosts,
  type TextStorage,
} from './host-keys.js';
export { browserIdentity, forgetBrowserIdentity } from './identity-store.js';
export { serveKsfWorker } from './ksf-worker.js';
export { WEBSOCKET_MESSAGE_BYTES, WebSocketByteStream } from './websocket-byte-stream.js';
export { workerStretch } from './worker-stretch.js';
