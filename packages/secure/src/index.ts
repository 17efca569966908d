/**
 * @keyway/secure — the security layer: Noise XX channel, OpenSSH-format identities, key
 * databases and authenticators. Nothing here is exported until it works and is tested.
 */
export {};
