/**
 * Native scrypt on Node (`node:crypto`, off the main thread in libuv's pool), for the
 * password login's key stretching. Chosen through the package's `#platform/scrypt` import.
 */
import { scrypt } from 'node:crypto';

/** scrypt with the given parameters, producing `dkLen` bytes. */
export function nativeScrypt(
  input: Uint8Array,
  salt: Uint8Array,
  dkLen: number,
  p: { N: number; r: number; p: number },
): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    // node:crypto refuses when 128·N·r exceeds maxmem (32 MiB by default); allow what the
    // checked parameters need, plus slack for its bookkeeping.
    const maxmem = 128 * p.N * p.r * p.p + 2 ** 20;
    scrypt(input, salt, dkLen, { N: p.N, r: p.r, p: p.p, maxmem }, (err, key) => {
      if (err) reject(err);
      else resolve(new Uint8Array(key.buffer, key.byteOffset, key.length));
    });
  });
}
