/**
 * Key stretching in a Web Worker: a `KsfOptions.stretch` that starts the worker script
 * (ksf-worker.ts, bundled by the application) for one login and ends it when done or when
 * the login is abandoned, so that 64 MiB of scrypt never freezes the page.
 */
import type { KsfOptions, KsfParams, StretchOptions } from '@keyway/secure';

/**
 * @param workerUrl the URL of the bundled ksf-worker script
 * @returns a `stretch` for `KsfOptions`
 */
export function workerStretch(workerUrl: string | URL): NonNullable<KsfOptions['stretch']> {
  return (params: KsfParams, input: Uint8Array, options?: StretchOptions) =>
    new Promise<Uint8Array>((resolve, reject) => {
      const worker = new Worker(workerUrl, { type: 'module' });
      const signal = options?.signal;
      const onAbort = () => {
        worker.terminate();
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const done = () => {
        worker.terminate();
        signal?.removeEventListener('abort', onAbort);
      };
      worker.onmessage = (event: MessageEvent) => {
        done();
        const data = event.data as { output?: Uint8Array; error?: string };
        if (data.output instanceof Uint8Array) resolve(data.output);
        else reject(new Error(`key stretching failed in the worker: ${data.error ?? 'no output'}`));
      };
      worker.onerror = (event: ErrorEvent) => {
        done();
        reject(new Error(`the key stretching worker failed: ${event.message}`));
      };
      worker.postMessage({ params, input });
    });
}
