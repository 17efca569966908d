/**
 * Writing key files safely: the new contents go to a temporary file in the same directory
 * with the final mode already set, and are renamed over the target, so a crash never
 * leaves half a private key or a key readable by others for a moment. docs/security.md
 * "Files and permissions".
 */
import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * Writes `text` to `path` atomically with exactly `mode`.
 */
export async function writeKeyFile(path: string, text: string, mode: number): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(temp, 'wx', mode);
  try {
    try {
      await handle.writeFile(text, 'utf8');
      // open()'s mode is narrowed by the umask; set the one asked for.
      await handle.chmod(mode);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}
