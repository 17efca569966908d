/**
 * scrypt in a browser: @noble/hashes' implementation, which yields to the event loop as it
 * runs (the browser client moves it into a Web Worker). Chosen through the package's
 * `#platform/scrypt` import under the `browser` condition.
 */
import { scryptAsync } from '@noble/hashes/scrypt.js';

/** scrypt with the given parameters, producing `dkLen` bytes. */
export function nativeScrypt(
  input: Uint8Array,
  salt: Uint8Array,
  dkLen: number,
  p: { N: number; r: number; p: number },
): Promise<Uint8Array> {
  return scryptAsync(input, salt, {
    N: p.N,
    r: p.r,
    p: p.p,
    dkLen,
    maxmem: 128 * p.N * p.r * p.p + 2 ** 20,
  });
}
