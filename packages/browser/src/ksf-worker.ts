/**
 * The Web Worker side of a password login's key stretching (scrypt) off the page's
 * thread. An application's worker script is two lines:
 * `import { serveKsfWorker } from 'keyway-rpc'; serveKsfWorker();` — bundle it and give
 * its URL to `connect()` as `ksfWorker`. It receives `{ params, input }` and answers
 * `{ output }` or `{ error }`.
 */
import { createKsf, type KsfParams } from '@keyway/secure';

interface WorkerScope {
  addEventListener(type: 'message', listener: (event: MessageEvent) => void): void;
  postMessage(message: unknown, transfer?: Transferable[]): void;
}

/**
 * Makes the current Web Worker answer key-stretching requests from `workerStretch()`.
 * @example
 * // ksf-worker.ts, bundled as the worker script
 * import { serveKsfWorker } from 'keyway-rpc';
 * serveKsfWorker();
 */
export function serveKsfWorker(): void {
  const scope = globalThis as unknown as WorkerScope;
  scope.addEventListener('message', (event: MessageEvent) => {
    const { params, input } = event.data as { params: KsfParams; input: Uint8Array };
    // The parameters are checked again here: a worker trusts no message it is sent.
    createKsf(params, { scryptProvider: 'noble' })
      .stretch(input)
      .then(
        (output) => scope.postMessage({ output }, [output.buffer as ArrayBuffer]),
        (error: unknown) =>
          scope.postMessage({ error: String((error as Error)?.message ?? error) }),
      );
  });
}
