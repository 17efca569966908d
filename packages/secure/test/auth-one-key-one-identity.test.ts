/**
 * One private key presents one identity (docs/security.md, "One key, one identity").
 * The X25519 key a peer proves in Noise XX is shared by 16 Ed25519 encodings: −A (the
 * sign of x flipped) and A + T for the small-order points T. Hostile peers holding a real
 * key present each alias, with the best signature an attacker can make for it (from the
 * scalar −a for −A; ground so that T drops out of the verification equation for A + T),
 * and every client policy and the server's authorized_keys check refuse them.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { afterEach, describe, expect, it } from 'vitest';
import { KEYWAY_PROLOGUE } from '../src/auth/server-session.js';
import {
  CLIENT_SIGNATURE_LABEL,
  encodeClientHello,
  encodeClientHelloBody,
  encodeServerHello,
  encodeServerHelloBody,
  helloSignedData,
  SERVER_SIGNATURE_LABEL,
} from '../src/auth/wire.js';
import { identityX25519 } from '../src/identity.js';
import {
  type AcceptedConnection,
  AuthenticationError,
  AuthorizedKeys,
  anonymousAuth,
  clientHandshake,
  HandshakeError,
  HostKeyError,
  Identity,
  KeyFormatError,
  KnownHosts,
  nobleCryptoProvider,
  nodeCryptoProvider,
  performHandshake,
  publicKeyAuth,
} from '../src/index.js';
import { dial, login, type Rig, startRig } from './auth-helpers.js';
import {
  addPoint,
  NON_CANONICAL_KEYS,
  negateKey,
  negateScalar,
  scalarOfSeed,
  signForTorsionAlias,
  signWithScalar,
  TORSION_POINTS,
} from './ed25519-aliases.js';
import { tempDir } from './openssh-tools.js';

const hostSeed = ed25519.utils.randomSecretKey();
const hostKey = new Identity(hostSeed, 'host');
const H = hostKey.publicKey;
const hostScalar = scalarOfSeed(hostSeed);
const aliceSeed = ed25519.utils.randomSecretKey();
const alice = new Identity(aliceSeed, 'alice@lab');
const A = alice.publicKey;
const aliceScalar = scalarOfSeed(aliceSeed);

type Signer = (key: Uint8Array, message: Uint8Array) => Uint8Array;

/** An alias of a key, with the strongest signature its holder can make for it. */
interface Alias {
  name: string;
  key: Uint8Array;
  /** The X25519 static key to prove: the alias's own u-coordinate, which its holder's secret matches. */
  staticPublic: Uint8Array;
  sign: Signer;
  /** What the refusal looks like. */
  refused: 'invalid key' | 'policy';
}

/** −K and K + T (T ≠ identity) for a key K whose seed the attacker holds. */
function aliasesOf(key: Uint8Array, scalar: bigint): Alias[] {
  const negated = negateKey(key);
  const out: Alias[] = [
    {
      name: '−K, signed with the scalar −a (a valid signature for −K)',
      key: negated,
      staticPublic: ed25519.utils.toMontgomery(negated),
      sign: (k, m) => signWithScalar(negateScalar(scalar), k, m),
      refused: 'policy',
    },
  ];
  for (let i = 1; i < 8; i++) {
    const aliasKey = addPoint(key, TORSION_POINTS[i]!);
    out.push({
      name: `K + T${i} (T of order ${order(i)}), signature ground so that T drops out`,
      key: aliasKey,
      staticPublic: ed25519.utils.toMontgomery(aliasKey),
      sign: (k, m) => signForTorsionAlias(scalar, k, m),
      refused: 'invalid key',
    });
  }
  return out;
}

function order(i: number): number {
  let n = 1;
  while ((i * n) % 8 !== 0) n++;
  return n;
}

const hostAliases = aliasesOf(H, hostScalar);
const aliceAliases = aliasesOf(A, aliceScalar);

let rig: Rig | undefined;
let hostile: { server: Server; sockets: Set<Socket> } | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
  if (hostile) {
    for (const s of hostile.sockets) s.destroy();
    await new Promise<void>((r) => hostile?.server.close(() => r()));
    hostile = undefined;
  }
});

/**
 * A server that holds the host key's X25519 secret, proves `staticPublic` with it and
 * presents `key` in a hello signed by `sign`. `signatureChecks` records whether each
 * signature it made verifies (node provider) under the key it presented.
 */
async function hostileServer(
  key: Uint8Array,
  staticPublic: Uint8Array,
  sign: Signer,
  secretKey = identityX25519(hostKey).secretKey,
): Promise<{ port: number; signatureChecks: boolean[] }> {
  const sockets = new Set<Socket>();
  const signatureChecks: boolean[] = [];
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    performHandshake(socket, {
      role: 'responder',
      staticKeyPair: { secretKey, publicKey: staticPublic },
      prologue: KEYWAY_PROLOGUE,
      localPayload: (h) => {
        const body = encodeServerHelloBody({ hostKey: key });
        const signed = helloSignedData(SERVER_SIGNATURE_LABEL, h, body);
        const signature = sign(key, signed);
        signatureChecks.push(nodeCryptoProvider.verify(key, signed, signature));
        return encodeServerHello(body, signature);
      },
      verifyRemote: () => {},
    }).catch(() => undefined);
  });
  hostile = { server, sockets };
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return { port: address.port, signatureChecks };
}

async function connectTo(
  port: number,
  knownHosts: KnownHosts,
  hostKeyPolicy: 'strict' | 'accept-new',
): Promise<unknown> {
  const socket = await dial(port);
  socket.on('error', () => {});
  try {
    const result = await clientHandshake(socket, {
      host: '127.0.0.1',
      port,
      knownHosts,
      hostKeyPolicy,
    });
    result.transport.close();
    return result;
  } catch (error) {
    socket.destroy();
    return error;
  }
}

function expectInvalidKey(error: unknown, who: 'client' | 'server', problem: RegExp): void {
  expect(error).toBeInstanceOf(HandshakeError);
  expect((error as Error).message).toBe(`${who} hello holds an invalid Ed25519 key`);
  expect((error as Error).cause).toBeInstanceOf(KeyFormatError);
  expect(((error as Error).cause as Error).message).toMatch(problem);
}

describe('a client refuses every alias of a host key it knows', () => {
  for (const alias of hostAliases) {
    for (const policy of ['strict', 'accept-new'] as const) {
      it(`${alias.name}: refused under ${policy} with H in known_hosts`, async () => {
        const tmp = tempDir();
        try {
          const { port, signatureChecks } = await hostileServer(
            alias.key,
            alias.staticPublic,
            alias.sign,
          );
          const knownHosts = await KnownHosts.load(tmp.path('known_hosts'));
          knownHosts.add('127.0.0.1', port, H);
          const error = await connectTo(port, knownHosts, policy);
          if (alias.refused === 'invalid key') {
            expectInvalidKey(error, 'server', /small-order component/);
          } else {
            expect(error).toBeInstanceOf(HostKeyError);
            expect((error as Error).message).toMatch(/HOST KEY CHANGED/);
          }
          // The forged signature itself verifies: the key checks are what refuse it.
          expect(signatureChecks).toEqual([true]);
          expect(knownHosts.list().map((e) => e.publicKey)).toEqual([H]);
        } finally {
          tmp.cleanup();
        }
      });
    }
  }
});

describe('a client under accept-new never records an alias', () => {
  for (const alias of hostAliases) {
    it(`${alias.name}: refused under accept-new when H is @revoked`, async () => {
      const { port } = await hostileServer(alias.key, alias.staticPublic, alias.sign);
      const knownHosts = KnownHosts.parse(`@revoked * ${hostKey.publicKeyLine()}\n`);
      for (const policy of ['strict', 'accept-new'] as const) {
        const error = await connectTo(port, knownHosts, policy);
        if (alias.refused === 'invalid key') {
          expectInvalidKey(error, 'server', /small-order component/);
        } else {
          expect(error).toBeInstanceOf(HostKeyError);
          expect((error as Error).message).toMatch(/negation of a key marked @revoked/);
        }
      }
      expect(knownHosts.list()).toHaveLength(1);
    });
  }

  for (const alias of hostAliases.filter((a) => a.refused === 'invalid key')) {
    it(`${alias.name}: refused under accept-new with an empty known_hosts`, async () => {
      const tmp = tempDir();
      try {
        const { port } = await hostileServer(alias.key, alias.staticPublic, alias.sign);
        const knownHosts = await KnownHosts.load(tmp.path('known_hosts'));
        expectInvalidKey(
          await connectTo(port, knownHosts, 'accept-new'),
          'server',
          /small-order component/,
        );
        expect(knownHosts.list()).toEqual([]);
      } finally {
        tmp.cleanup();
      }
    });
  }

  it('−H signed by H (what a stock signer makes) is refused under accept-new with an empty known_hosts', async () => {
    const tmp = tempDir();
    try {
      const negated = negateKey(H);
      const { port } = await hostileServer(negated, ed25519.utils.toMontgomery(negated), (_k, m) =>
        ed25519.sign(m, hostSeed),
      );
      const knownHosts = await KnownHosts.load(tmp.path('known_hosts'));
      const error = await connectTo(port, knownHosts, 'accept-new');
      expect(error).toBeInstanceOf(HandshakeError);
      expect((error as Error).message).toBe(
        'server hello signature does not verify under its host key',
      );
      expect(knownHosts.list()).toEqual([]);
    } finally {
      tmp.cleanup();
    }
  });
});

describe('non-canonical encodings', () => {
  it('the list holds real aliases: each decodes (loosely) to the point of a canonical key', () => {
    expect(NON_CANONICAL_KEYS.length).toBeGreaterThan(2);
    for (const { bytes, canonical } of NON_CANONICAL_KEYS) {
      expect(Buffer.from(bytes).equals(Buffer.from(canonical))).toBe(false);
      expect(ed25519.Point.fromBytes(bytes, true).equals(ed25519.Point.fromBytes(canonical))).toBe(
        true,
      );
    }
  });

  for (const { bytes } of NON_CANONICAL_KEYS) {
    const label = Buffer.from(bytes).toString('hex');
    it(`a host key ${label.slice(0, 8)}…${label.slice(-4)} is refused under strict and accept-new`, async () => {
      const fresh = x25519.utils.randomSecretKey();
      const { port } = await hostileServer(
        bytes,
        x25519.getPublicKey(fresh),
        (_k, m) => ed25519.sign(m, hostSeed),
        fresh,
      );
      for (const policy of ['strict', 'accept-new'] as const) {
        const knownHosts = KnownHosts.parse('');
        expectInvalidKey(
          await connectTo(port, knownHosts, policy),
          'server',
          /not a canonical encoding|small order/,
        );
        expect(knownHosts.list()).toEqual([]);
      }
    });
  }
});

describe('the honest host key', () => {
  it('works under strict, and under accept-new is recorded as exactly H', async () => {
    const tmp = tempDir();
    try {
      rig = await startRig(anonymousAuth({ identity: hostKey }));
      const known = KnownHosts.parse('');
      known.add('127.0.0.1', rig.port, H);
      const strict = (await connectTo(rig.port, known, 'strict')) as {
        hostKey: { publicKey: Uint8Array };
      };
      expect(strict.hostKey.publicKey).toEqual(H);
      const fresh = await KnownHosts.load(tmp.path('known_hosts'));
      await connectTo(rig.port, fresh, 'accept-new');
      expect(fresh.check('127.0.0.1', rig.port, H).status).toBe('match');
    } finally {
      tmp.cleanup();
    }
  });
});

describe('signed hellos across providers', () => {
  for (const [serverProvider, clientProvider] of [
    [nodeCryptoProvider, nobleCryptoProvider],
    [nobleCryptoProvider, nodeCryptoProvider],
  ] as const) {
    it(`a ${serverProvider.name} server and a ${clientProvider.name} client verify each other's signatures`, async () => {
      rig = await startRig(
        publicKeyAuth({
          identity: hostKey,
          authorizedKeys: AuthorizedKeys.parse(`${alice.publicKeyLine()}\n`),
          provider: serverProvider,
        }),
      );
      const known = KnownHosts.parse('');
      known.add('127.0.0.1', rig.port, H);
      const client = await login(rig.port, {
        identity: alice,
        knownHosts: known,
        provider: clientProvider,
      });
      const accepted = (await rig.accepted[0]) as AcceptedConnection;
      expect(accepted.credentials.publicKey?.fingerprint).toBe(alice.fingerprint);
      client.close();
    });
  }
});

/**
 * A client that holds alice's X25519 secret, proves `staticPublic` and presents `key`,
 * signed by `sign`. Resolves once its handshake settles, with a function that hangs up.
 */
async function hostileClient(
  port: number,
  key: Uint8Array,
  staticPublic: Uint8Array,
  sign: Signer,
  secretKey = identityX25519(alice).secretKey,
): Promise<() => void> {
  const socket = await dial(port);
  socket.on('error', () => {});
  const outcome = await performHandshake(socket, {
    role: 'initiator',
    staticKeyPair: { secretKey, publicKey: staticPublic },
    prologue: KEYWAY_PROLOGUE,
    localPayload: (h) => {
      const body = encodeClientHelloBody({ publicKey: key });
      return encodeClientHello(body, sign(key, helloSignedData(CLIENT_SIGNATURE_LABEL, h, body)));
    },
    verifyRemote: () => {},
  }).catch(() => undefined);
  return () => (outcome ? outcome.channel.close() : socket.destroy());
}

describe("a server's authorized_keys check refuses every alias of an authorized key", () => {
  const authorizedKeys = () => AuthorizedKeys.parse(`${alice.publicKeyLine()}\n`);

  for (const alias of aliceAliases) {
    it(`${alias.name}: refused by publicKeyAuth`, async () => {
      rig = await startRig(publicKeyAuth({ identity: hostKey, authorizedKeys: authorizedKeys() }));
      await hostileClient(rig.port, alias.key, alias.staticPublic, alias.sign);
      const outcome = await rig.accepted[0];
      if (alias.refused === 'invalid key') {
        expectInvalidKey(outcome, 'client', /small-order component/);
        expect(rig.log).toEqual([]);
      } else {
        expect(outcome).toBeInstanceOf(AuthenticationError);
        expect((outcome as AuthenticationError).reason).toContain('key not authorized');
      }
    });
  }

  for (const alias of aliceAliases.filter((a) => a.refused === 'invalid key')) {
    it(`${alias.name}: refused even by anonymousAuth, so no alias reaches a log or credentials`, async () => {
      rig = await startRig(anonymousAuth({ identity: hostKey }));
      await hostileClient(rig.port, alias.key, alias.staticPublic, alias.sign);
      expectInvalidKey(await rig.accepted[0], 'client', /small-order component/);
    });
  }

  it('−A signed by A (what a stock signer makes) fails the signature check', async () => {
    rig = await startRig(publicKeyAuth({ identity: hostKey, authorizedKeys: authorizedKeys() }));
    const negated = negateKey(A);
    await hostileClient(rig.port, negated, ed25519.utils.toMontgomery(negated), (_k, m) =>
      ed25519.sign(m, aliceSeed),
    );
    const outcome = await rig.accepted[0];
    expect(outcome).toBeInstanceOf(HandshakeError);
    expect((outcome as Error).message).toBe('client hello signature does not verify under its key');
  });

  for (const { bytes } of NON_CANONICAL_KEYS.slice(0, 4)) {
    const label = Buffer.from(bytes).toString('hex');
    it(`a non-canonical client key ${label.slice(0, 8)}…${label.slice(-4)} is refused`, async () => {
      rig = await startRig(publicKeyAuth({ identity: hostKey, authorizedKeys: authorizedKeys() }));
      const fresh = x25519.utils.randomSecretKey();
      await hostileClient(
        rig.port,
        bytes,
        x25519.getPublicKey(fresh),
        (_k, m) => ed25519.sign(m, aliceSeed),
        fresh,
      );
      expectInvalidKey(await rig.accepted[0], 'client', /not a canonical encoding|small order/);
    });
  }

  it('the honest key A logs in, reported as exactly A', async () => {
    rig = await startRig(publicKeyAuth({ identity: hostKey, authorizedKeys: authorizedKeys() }));
    const hangUp = await hostileClient(rig.port, A, identityX25519(alice).publicKey, (_k, m) =>
      ed25519.sign(m, aliceSeed),
    );
    const accepted = (await rig.accepted[0]) as AcceptedConnection;
    expect(accepted.credentials.publicKey?.fingerprint).toBe(alice.fingerprint);
    hangUp();
  });
});
