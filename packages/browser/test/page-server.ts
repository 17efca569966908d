/**
 * Test helper: bundles the test page and its key-stretching worker with esbuild for the
 * browser platform and serves them over HTTP on 127.0.0.1.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';

/** A served test page: its origin, and how to stop serving it. */
export interface PageServer {
  readonly origin: string;
  close(): Promise<void>;
}

/** Bundles test/page and serves it; resolves once listening. */
export async function servePage(): Promise<PageServer> {
  const dir = mkdtempSync(join(tmpdir(), 'keyway-page-'));
  try {
    await build({
      entryPoints: {
        page: join(import.meta.dirname, 'page', 'main.ts'),
        'ksf-worker': join(import.meta.dirname, 'page', 'ksf-worker.ts'),
      },
      bundle: true,
      platform: 'browser',
      format: 'esm',
      target: 'es2022',
      outdir: dir,
      logLevel: 'silent',
    });
    const files: Record<string, [string, string]> = {
      '/': [
        'text/html',
        '<!doctype html><title>loading</title><script type="module" src="/page.js"></script>',
      ],
      '/page.js': ['text/javascript', readFileSync(join(dir, 'page.js'), 'utf8')],
      '/ksf-worker.js': ['text/javascript', readFileSync(join(dir, 'ksf-worker.js'), 'utf8')],
    };
    const http = createServer((req, res) => {
      const file = files[req.url ?? ''];
      if (!file) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': file[0] }).end(file[1]);
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    return {
      origin: `http://127.0.0.1:${(http.address() as { port: number }).port}`,
      close: () => new Promise((resolve) => http.close(() => resolve())),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
