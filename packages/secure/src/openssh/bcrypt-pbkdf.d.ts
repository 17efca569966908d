// Types for the CommonJS `bcrypt-pbkdf` package (OpenBSD's bcrypt_pbkdf, used by
// openssh-key-v1 to turn a passphrase into a cipher key and IV).
declare module 'bcrypt-pbkdf' {
  /** Fills `key[0..keylen)`; returns 0 on success, -1 on bad arguments. */
  export function pbkdf(
    pass: Uint8Array,
    passlen: number,
    salt: Uint8Array,
    saltlen: number,
    key: Uint8Array,
    keylen: number,
    rounds: number,
  ): number;
}
