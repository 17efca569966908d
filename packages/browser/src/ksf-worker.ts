/**
 * The Web Worker that runs a password login's key stretching (scrypt) off the page's
 * thread. Bundle this file as the worker script and give its URL to `connect()` as
 * `ksfWorker`. It receives `{ params, input }`, answers `{ output }` or `{ error }`.
 */
import { createKsf, type KsfParams } from '@keyway/secure';

interface WorkerScope {
  addEventListener(type: 'message', listener: (event: MessageEvent) => void): void;
  postMessage(message: unknown, transfer?: Transferable[]): void;
}

const scope = globalThis as unknown as WorkerScope;

scope.addEventListener('message', (event: MessageEvent) => {
  const { params, input } = event.data as { params: KsfParams; input: Uint8Array };
  createKsf(params, { scryptProvider: 'noble' })
    .stretch(input)
    .then(
      (output) => scope.postMessage({ output }, [output.buffer as ArrayBuffer]),
      (error: unknown) => scope.postMessage({ error: String((error as Error)?.message ?? error) }),
    );
});
