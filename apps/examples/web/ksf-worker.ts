// The demo's key-stretching worker: scrypt for the password login, off the page's thread.
import { serveKsfWorker } from 'keyway-rpc';

serveKsfWorker();
