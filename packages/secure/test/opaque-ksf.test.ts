/**
 * Key stretching functions: text form, limits, and the two scrypt providers (node:crypto
 * and @noble/hashes) giving identical bytes, including at keyway's default parameters.
 */
import { scryptSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { OpaqueFormatError } from '../src/opaque/errors.js';
import {
  checkKsfParams,
  createKsf,
  DEFAULT_KSF_PARAMS,
  formatKsfParams,
  type KsfParams,
  parseKsfParams,
} from '../src/opaque/ksf.js';

const input = new Uint8Array(64).map((_, i) => i);

describe('KSF parameters', () => {
  it('default is scrypt N=2^16, r=8, p=1', () => {
    expect(formatKsfParams(DEFAULT_KSF_PARAMS)).toBe('scrypt:N=65536,r=8,p=1');
    expect(Object.isFrozen(DEFAULT_KSF_PARAMS)).toBe(true);
  });

  it('text form round-trips', () => {
    const all: KsfParams[] = [
      DEFAULT_KSF_PARAMS,
      { algorithm: 'scrypt', N: 2 ** 17, r: 8, p: 2 },
      { algorithm: 'argon2id', m: 65536, t: 3, p: 4 },
      { algorithm: 'identity' },
    ];
    for (const p of all) expect(parseKsfParams(formatKsfParams(p))).toEqual(p);
  });

  it('refuses malformed or out-of-range parameters', () => {
    for (const text of [
      '',
      'scrypt',
      'scrypt:N=65535,r=8,p=1',
      'scrypt:N=0,r=8,p=1',
      'scrypt:N=65536,r=8,p=1,x=1',
      'scrypt:N=1073741824,r=8,p=1',
      'argon2id:m=4,t=1,p=1',
      'argon2id:m=99999999,t=1,p=1',
      'bcrypt:cost=12',
      ' scrypt:N=65536,r=8,p=1',
    ]) {
      expect(() => parseKsfParams(text), text).toThrow(OpaqueFormatError);
    }
    expect(() => checkKsfParams({ algorithm: 'scrypt', N: 1.5, r: 8, p: 1 })).toThrow(
      OpaqueFormatError,
    );
  });
});

describe('scrypt providers', () => {
  it('node and noble agree, and match node:crypto scrypt with the RFC 9807 zeroes(16) salt', async () => {
    const params: KsfParams = { algorithm: 'scrypt', N: 1024, r: 8, p: 2 };
    const a = await createKsf(params).stretch(input);
    const b = await createKsf(params, { scryptProvider: 'noble' }).stretch(input);
    expect(a).toEqual(b);
    expect(a.length).toBe(64);
    expect(Buffer.from(a)).toEqual(
      scryptSync(input, new Uint8Array(16), 64, { N: 1024, r: 8, p: 2 }),
    );
  });

  it('runs the default parameters (64 MiB) on both providers with the same result', async () => {
    const a = await createKsf(DEFAULT_KSF_PARAMS).stretch(input);
    const b = await createKsf(DEFAULT_KSF_PARAMS, { scryptProvider: 'noble' }).stretch(input);
    expect(a).toEqual(b);
  }, 30_000);

  it('identity returns a copy of its input; unknown provider is a TypeError', async () => {
    const out = await createKsf({ algorithm: 'identity' }).stretch(input);
    expect(out).toEqual(input);
    expect(out).not.toBe(input);
    expect(() =>
      createKsf(DEFAULT_KSF_PARAMS, { scryptProvider: 'x' as unknown as 'node' }),
    ).toThrow(TypeError);
  });
});

describe('stretching elsewhere (KsfOptions.stretch)', () => {
  const params: KsfParams = { algorithm: 'scrypt', N: 1024, r: 8, p: 1 };

  it('hands the checked parameters and input to stretch and returns its bytes', async () => {
    const seen: KsfParams[] = [];
    const ksf = createKsf(params, {
      stretch: async (p, bytes) => {
        seen.push(p);
        // What a Web Worker would compute: the same function, somewhere else.
        return createKsf(p, { scryptProvider: 'noble' }).stretch(bytes);
      },
    });
    expect(await ksf.stretch(input)).toEqual(await createKsf(params).stretch(input));
    expect(seen).toEqual([params]);
  });

  it('refuses a stretch that returns the wrong length, and stops at the signal', async () => {
    const short = createKsf(params, { stretch: async () => new Uint8Array(10) });
    await expect(short.stretch(input)).rejects.toThrow(TypeError);
    const never = createKsf(params, { stretch: () => new Promise<Uint8Array>(() => {}) });
    const stop = new AbortController();
    const pending = never.stretch(input, { signal: stop.signal });
    stop.abort(new Error('login abandoned'));
    await expect(pending).rejects.toThrow('login abandoned');
  });
});
