/**
 * Runs the RPyC 5.3 peer (`benchmarks/rpyc/rpyc_calls.py`) with Debian's Python, plain
 * and over SSL, for the server benchmark (docs/design.md §6). The SSL key and certificate are
 * made with the `openssl` CLI in a temp directory. When Python, rpyc or openssl is
 * missing, the result says why and how to install it instead of failing the benchmark.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const PYTHON = process.env.RPYC_PYTHON ?? '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('../rpyc/rpyc_calls.py', import.meta.url));
const INSTALL = 'apt-get install -y python3-rpyc openssl   # Debian/Ubuntu: RPyC 5.3';

/** Calls/s of one RPyC mode, or why it was skipped. */
export type RpycResult =
  | { mode: 'plain' | 'ssl'; peer: string; sequential: number; inflight100: number }
  | { mode: 'plain' | 'ssl'; skipped: string };

/** @returns the RPyC version importable by {@link PYTHON}, or why it is not. */
async function rpycVersion(): Promise<{ version: string } | { missing: string }> {
  try {
    const { stdout } = await run(PYTHON, ['-c', 'import rpyc; print(rpyc.__version__)'], {
      timeout: 15_000,
    });
    return { version: stdout.trim() };
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no' : 'no rpyc for';
    return { missing: `${reason} ${PYTHON}; install with: ${INSTALL}` };
  }
}

/** Makes a throwaway P-256 key and self-signed certificate for RPyC's SSL mode. */
async function sslFiles(dir: string): Promise<{ key: string; cert: string }> {
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  await run(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
    ],
    { timeout: 15_000 },
  );
  return { key, cert };
}

/**
 * Measures RPyC in `modes`, one Python process each (client and server threads in it).
 * @param seconds time budget of each pattern inside the Python script
 */
export async function runRpyc(
  modes: readonly ('plain' | 'ssl')[],
  seconds: number,
): Promise<RpycResult[]> {
  const found = await rpycVersion();
  if ('missing' in found) return modes.map((mode) => ({ mode, skipped: found.missing }));
  const dir = mkdtempSync(join(tmpdir(), 'keyway-rpyc-'));
  try {
    const out: RpycResult[] = [];
    for (const mode of modes) {
      try {
        const args = [SCRIPT, mode, String(seconds)];
        if (mode === 'ssl') {
          const { key, cert } = await sslFiles(dir);
          args.push(key, cert);
        }
        // Warm-up plus two timed patterns, with room for a slow start.
        const { stdout } = await run(PYTHON, args, { timeout: (seconds * 2 + 20) * 1000 });
        const line = stdout.trim().split('\n').at(-1) ?? '';
        const parsed = JSON.parse(line) as {
          peer: string;
          sequential: number;
          inflight100: number;
        };
        out.push({ mode, ...parsed });
      } catch (error) {
        out.push({ mode, skipped: `run failed: ${(error as Error).message.split('\n')[0]}` });
      }
    }
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
