/**
 * Key files and databases in a browser: there is no file system, so loading or saving by
 * path fails with a clear `UsageError`; identities and known hosts are kept by the
 * application (IndexedDB, localStorage) and parsed from text. Chosen through the
 * package's `#platform/files` import under the `browser` condition.
 */
import type { Stats } from 'node:fs';
import { UsageError } from '../../errors.js';

function noFiles(path: string): never {
  throw new UsageError(
    `cannot read or write ${path}: a browser has no file system; keep keys in IndexedDB or ` +
      `localStorage and use the parse/toString methods`,
  );
}

/** Refuses: no files in a browser. */
export async function readDatabaseFile(
  path: string,
  _options: { maxBytes?: number } = {},
): Promise<{ text: string; stats: Stats } | undefined> {
  return noFiles(path);
}

/** Refuses: no files in a browser. */
export async function readPrivateKeyFile(path: string): Promise<string> {
  return noFiles(path);
}

/** Refuses: no files in a browser. */
export async function atomicWriteFile(
  path: string,
  _data: string | Uint8Array,
  _options: { mode?: number; backup?: boolean } = {},
): Promise<void> {
  noFiles(path);
}
