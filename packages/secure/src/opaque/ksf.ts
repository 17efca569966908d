/**
 * Key Stretching Functions for OPAQUE's client side (RFC 9807 §3.2 "Stretch", §7 KSF
 * choices). keyway's default is scrypt (RFC 7914) N=2^16, r=8, p=1; Argon2id (RFC 9106) is
 * offered for peers that use it (e.g. opaque-ke / @serenity-kit/opaque); Identity exists for
 * the RFC's test vectors only. Parameters travel with each password record so they can be
 * raised later, and are written as a short text form such as `scrypt:N=65536,r=8,p=1`.
 *
 * A client runs the parameters a server announces, so it bounds them
 * ({@link checkKsfBounds}): a floor below which the stretching no longer protects the
 * password, a ceiling above which a hostile server could make it allocate too much or
 * spin too long, and an `AbortSignal` that stops the work at the login's deadline.
 *
 * Salts follow RFC 9807 §7's recommended configurations: the KSF input is the per-user OPRF
 * output, already unique, so both scrypt and Argon2id use `S = zeroes(16)`; the output
 * length is `Nh` (64 bytes for this suite).
 */

import { argon2idAsync } from '@noble/hashes/argon2.js';
import { scryptAsync } from '@noble/hashes/scrypt.js';
import { nativeScrypt } from '#platform/scrypt';
import { KsfBoundsError, OpaqueFormatError } from './errors.js';
import { Nh } from './suite.js';

/** scrypt parameters (RFC 7914). `N` is a power of two. */
export interface ScryptParams {
  readonly algorithm: 'scrypt';
  /** CPU/memory cost, a power of two. */
  readonly N: number;
  /** Block size. */
  readonly r: number;
  /** Parallelism. */
  readonly p: number;
}

/** Argon2id parameters (RFC 9106), memory `m` in KiB. */
export interface Argon2idParams {
  readonly algorithm: 'argon2id';
  /** Memory in KiB. */
  readonly m: number;
  /** Passes. */
  readonly t: number;
  /** Lanes. */
  readonly p: number;
}

/** The Identity KSF (`Stretch(x) = x`): for RFC test vectors only, never for real records. */
export interface IdentityKsfParams {
  readonly algorithm: 'identity';
}

/** Parameters of a key stretching function, stored per password record. */
export type KsfParams = ScryptParams | Argon2idParams | IdentityKsfParams;

/** Options of {@link KeyStretchingFunction.stretch}. */
export interface StretchOptions {
  /**
   * Stops the work: the promise rejects with the signal's reason. The pure-JS functions
   * stop computing at their next progress tick; node:crypto's scrypt cannot be cancelled
   * once in its thread pool, so it finishes there (bounded by {@link KsfBounds}) and its
   * result is dropped.
   */
  signal?: AbortSignal | undefined;
}

/** A key stretching function: turns the OPRF output into its hardened form (Nh bytes). */
export interface KeyStretchingFunction {
  /** Hardens `input`; resolves to the stretched bytes. */
  stretch(input: Uint8Array, options?: StretchOptions): Promise<Uint8Array>;
}

/** Which scrypt implementation runs: node:crypto (native, default) or @noble/hashes. */
export type ScryptProvider = 'node' | 'noble';

/** Options for {@link createKsf}. */
export interface KsfOptions {
  /**
   * scrypt implementation; default `'node'`: node:crypto's on Node, @noble/hashes' in a
   * browser bundle (which has no node:crypto).
   */
  scryptProvider?: ScryptProvider;
  /**
   * Runs the stretching elsewhere, e.g. in a Web Worker so that a page stays responsive:
   * given the checked parameters and the input, resolves to what `createKsf(params)`
   * would compute. Replaces `scryptProvider` when set.
   */
  stretch?: (params: KsfParams, input: Uint8Array, options?: StretchOptions) => Promise<Uint8Array>;
}

/** keyway's default: scrypt N=2^16, r=8, p=1 (64 MiB, roughly 100-200 ms on a server core). */
export const DEFAULT_KSF_PARAMS: ScryptParams = Object.freeze({
  algorithm: 'scrypt',
  N: 2 ** 16,
  r: 8,
  p: 1,
});

/**
 * Bounds on accepted parameters: a client takes the parameters from the server, so an
 * absurd value must not make it allocate gigabytes or spin for minutes.
 */
export const KSF_LIMITS = Object.freeze({
  /** Largest scrypt memory, 128·N·r bytes. */
  scryptMaxMemory: 1024 ** 3,
  scryptMaxP: 16,
  scryptMaxR: 64,
  /** Largest Argon2id memory in KiB (2 GiB, the RFC 9807 recommendation). */
  argon2MaxMemoryKiB: 2 ** 21,
  argon2MaxT: 16,
  argon2MaxP: 16,
});

/**
 * What a client agrees to run when a server announces stretching parameters. The floor
 * keeps a server (or whoever edited its password file) from making logins cheap to guess
 * offline; the ceiling keeps a hostile server from making the client allocate gigabytes
 * or compute for minutes. Time is bounded further by the login's deadline.
 */
export interface KsfBounds {
  /** Least scrypt memory, 128·N·r bytes. Default 32 MiB (N = 2^15 with r = 8). */
  readonly scryptMinMemoryBytes: number;
  /** Most scrypt work, 128·N·r·p bytes (memory times lanes). Default 512 MiB. */
  readonly scryptMaxCostBytes: number;
  /** Least Argon2id work, m·t in KiB. Default 32768 (e.g. 19 MiB × 2 passes, or 64 MiB × 3). */
  readonly argon2MinCostKiB: number;
  /** Most Argon2id work, m·t in KiB. Default 2^21 (RFC 9807's 2 GiB × 1 pass). */
  readonly argon2MaxCostKiB: number;
}

/** Default {@link KsfBounds}, frozen. keyway's default parameters sit well inside them. */
export const DEFAULT_KSF_BOUNDS: KsfBounds = Object.freeze({
  scryptMinMemoryBytes: 128 * 2 ** 15 * 8,
  scryptMaxCostBytes: 512 * 1024 ** 2,
  argon2MinCostKiB: 32_768,
  argon2MaxCostKiB: 2 ** 21,
});

/**
 * Checks parameters a server announced against a client's bounds. The Identity KSF
 * costs nothing, so it passes only when both floors are 0 (test vectors).
 * @param bounds - fields left out take their {@link DEFAULT_KSF_BOUNDS} value.
 * @returns the checked parameters.
 * @throws KsfBoundsError when the parameters are below the floor or above the ceiling,
 *   OpaqueFormatError when they are invalid, RangeError on invalid bounds.
 */
export function checkKsfBounds(params: KsfParams, bounds: Partial<KsfBounds> = {}): KsfParams {
  const b = { ...DEFAULT_KSF_BOUNDS, ...bounds };
  for (const [k, v] of Object.entries(b)) {
    if (typeof v !== 'number' || !(v >= 0)) throw new RangeError(`ksfBounds.${k} must be >= 0`);
  }
  const p = checkKsfParams(params);
  const text = formatKsfParams(p);
  switch (p.algorithm) {
    case 'scrypt':
      if (128 * p.N * p.r < b.scryptMinMemoryBytes) {
        throw new KsfBoundsError(`the server asked for ${text}, below this client's floor`);
      }
      if (128 * p.N * p.r * p.p > b.scryptMaxCostBytes) {
        throw new KsfBoundsError(`the server asked for ${text}, above this client's ceiling`);
      }
      return p;
    case 'argon2id':
      if (p.m * p.t < b.argon2MinCostKiB) {
        throw new KsfBoundsError(`the server asked for ${text}, below this client's floor`);
      }
      if (p.m * p.t > b.argon2MaxCostKiB) {
        throw new KsfBoundsError(`the server asked for ${text}, above this client's ceiling`);
      }
      return p;
    case 'identity':
      if (b.scryptMinMemoryBytes > 0 || b.argon2MinCostKiB > 0) {
        throw new KsfBoundsError('the server asked for the identity KSF, which stretches nothing');
      }
      return p;
  }
}

/** `zeroes(16)`, RFC 9807 §7's salt for both KSFs. */
const KSF_SALT = new Uint8Array(16);

function isPositiveInt(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n > 0;
}

/**
 * Validates KSF parameters against {@link KSF_LIMITS}.
 * @returns the same parameters, frozen.
 * @throws OpaqueFormatError when a value is out of range or the algorithm is unknown.
 */
export function checkKsfParams(params: KsfParams): KsfParams {
  const bad = (why: string): never => {
    throw new OpaqueFormatError(`invalid KSF parameters: ${why}`);
  };
  if (typeof params !== 'object' || params === null) bad('not an object');
  switch (params.algorithm) {
    case 'scrypt': {
      const { N, r, p } = params;
      if (!isPositiveInt(N) || N < 2 || (N & (N - 1)) !== 0) bad('scrypt N must be a power of 2');
      if (!isPositiveInt(r) || r > KSF_LIMITS.scryptMaxR) bad('scrypt r out of range');
      if (!isPositiveInt(p) || p > KSF_LIMITS.scryptMaxP) bad('scrypt p out of range');
      if (128 * N * r > KSF_LIMITS.scryptMaxMemory) bad('scrypt memory above limit');
      return Object.freeze({ algorithm: 'scrypt', N, r, p });
    }
    case 'argon2id': {
      const { m, t, p } = params;
      if (!isPositiveInt(p) || p > KSF_LIMITS.argon2MaxP) bad('argon2id p out of range');
      if (!isPositiveInt(t) || t > KSF_LIMITS.argon2MaxT) bad('argon2id t out of range');
      if (!isPositiveInt(m) || m < 8 * p || m > KSF_LIMITS.argon2MaxMemoryKiB) {
        bad('argon2id m out of range');
      }
      return Object.freeze({ algorithm: 'argon2id', m, t, p });
    }
    case 'identity':
      return Object.freeze({ algorithm: 'identity' });
    default:
      return bad('unknown algorithm');
  }
}

/**
 * Text form of KSF parameters, e.g. `scrypt:N=65536,r=8,p=1`, `argon2id:m=65536,t=3,p=4`,
 * `identity`.
 */
export function formatKsfParams(params: KsfParams): string {
  const p = checkKsfParams(params);
  switch (p.algorithm) {
    case 'scrypt':
      return `scrypt:N=${p.N},r=${p.r},p=${p.p}`;
    case 'argon2id':
      return `argon2id:m=${p.m},t=${p.t},p=${p.p}`;
    case 'identity':
      return 'identity';
  }
}

const SCRYPT_TEXT = /^scrypt:N=([1-9][0-9]{0,9}),r=([1-9][0-9]{0,3}),p=([1-9][0-9]{0,3})$/;
const ARGON_TEXT = /^argon2id:m=([1-9][0-9]{0,9}),t=([1-9][0-9]{0,3}),p=([1-9][0-9]{0,3})$/;

/**
 * Parses the text form written by {@link formatKsfParams}.
 * @throws OpaqueFormatError on any other text or out-of-range values.
 */
export function parseKsfParams(text: string): KsfParams {
  if (typeof text !== 'string') throw new TypeError('KSF parameter text must be a string');
  if (text === 'identity') return checkKsfParams({ algorithm: 'identity' });
  let m = SCRYPT_TEXT.exec(text);
  if (m) return checkKsfParams({ algorithm: 'scrypt', N: +m[1]!, r: +m[2]!, p: +m[3]! });
  m = ARGON_TEXT.exec(text);
  if (m) return checkKsfParams({ algorithm: 'argon2id', m: +m[1]!, t: +m[2]!, p: +m[3]! });
  throw new OpaqueFormatError('invalid KSF parameters: unrecognised text form');
}

/** Rejects with the signal's reason once it aborts; never settles otherwise. */
function aborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    else signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}

/** A progress callback for noble's async functions that stops them when `signal` aborts. */
function stopOn(signal: AbortSignal | undefined): ((progress: number) => void) | undefined {
  if (!signal) return undefined;
  return () => {
    if (signal.aborted) throw signal.reason;
  };
}

async function cancellable(
  work: Promise<Uint8Array>,
  signal: AbortSignal | undefined,
): Promise<Uint8Array> {
  if (!signal) return work;
  signal.throwIfAborted();
  // The losing side's rejection is expected; nobody waits for it.
  work.catch(() => {});
  const stop = aborted(signal);
  stop.catch(() => {});
  return Promise.race([work, stop]);
}

function nodeScryptAsync(input: Uint8Array, p: ScryptParams): Promise<Uint8Array> {
  return nativeScrypt(input, KSF_SALT, Nh, p);
}

/**
 * Builds the KSF for `params`.
 * @param params - checked with {@link checkKsfParams}.
 * @param options - `scryptProvider`: `'node'` (default) or `'noble'` (portable fallback).
 * @returns a {@link KeyStretchingFunction} producing Nh (64) bytes.
 */
export function createKsf(params: KsfParams, options: KsfOptions = {}): KeyStretchingFunction {
  const p = checkKsfParams(params);
  const provider = options.scryptProvider ?? 'node';
  if (provider !== 'node' && provider !== 'noble') {
    throw new TypeError(`scryptProvider must be 'node' or 'noble', got ${String(provider)}`);
  }
  const elsewhere = options.stretch;
  if (elsewhere !== undefined) {
    if (typeof elsewhere !== 'function') throw new TypeError('stretch must be a function');
    return {
      stretch: async (input, o) => {
        o?.signal?.throwIfAborted();
        const out = await cancellable(elsewhere(p, input, o), o?.signal);
        if (!(out instanceof Uint8Array) || out.length !== Nh) {
          throw new TypeError(`stretch must resolve to ${Nh} bytes`);
        }
        return out;
      },
    };
  }
  switch (p.algorithm) {
    case 'identity':
      return {
        stretch: async (input, o) => cancellable(Promise.resolve(input.slice()), o?.signal),
      };
    case 'scrypt':
      if (provider === 'node') {
        return {
          stretch: async (input, o) => {
            o?.signal?.throwIfAborted();
            return cancellable(nodeScryptAsync(input, p), o?.signal);
          },
        };
      }
      return {
        stretch: async (input, o) => {
          o?.signal?.throwIfAborted();
          const onProgress = stopOn(o?.signal);
          return cancellable(
            scryptAsync(input, KSF_SALT, {
              N: p.N,
              r: p.r,
              p: p.p,
              dkLen: Nh,
              maxmem: 128 * p.N * p.r * p.p + 2 ** 20,
              ...(onProgress && { onProgress }),
            }),
            o?.signal,
          );
        },
      };
    case 'argon2id':
      return {
        stretch: async (input, o) => {
          o?.signal?.throwIfAborted();
          const onProgress = stopOn(o?.signal);
          return cancellable(
            argon2idAsync(input, KSF_SALT, {
              m: p.m,
              t: p.t,
              p: p.p,
              dkLen: Nh,
              version: 0x13,
              maxmem: p.m * 1024 + 2 ** 20,
              ...(onProgress && { onProgress }),
            }),
            o?.signal,
          );
        },
      };
  }
}

/** Accepts either parameters or a ready KSF, as the protocol functions do. */
export function toKsf(ksf: KsfParams | KeyStretchingFunction, options?: KsfOptions) {
  return 'stretch' in ksf ? ksf : createKsf(ksf, options);
}
