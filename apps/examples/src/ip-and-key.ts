/**
 * Example (c): composed authentication — an IP allow-list in front of public-key
 * authentication, passed to a ThreadedServer (docs/design.md §2, §4 "Authenticators").
 * The allow-list runs before any crypto; then the client's key must be in authorized_keys.
 *
 * Shown: alice (allowed address, authorized key) is admitted; mallory (allowed address,
 * unknown key) is refused; and alice is refused by a second server whose allow-list does
 * not include her address. The server's own log says why; the clients are told only that
 * authentication failed. Runs to completion by itself.
 *
 * Run from the repository root: pnpm --filter @keyway/examples run ip-and-key
 */
import {
  type AuthLogEvent,
  AuthorizedKeys,
  compose,
  connect,
  generateIdentity,
  type Identity,
  ipAllowlist,
  KnownHosts,
  publicKeyAuth,
  type Remote,
  Service,
  ThreadedServer,
} from 'keyway-rpc';

/** The service behind the gate. */
export class Calculator extends Service {
  /** @returns a + b */
  add(a: number, b: number): number {
    return a + b;
  }
}

const hostKey = generateIdentity('example-host');
const alice = generateIdentity('alice@example');
const mallory = generateIdentity('mallory@elsewhere');
const authorizedKeys = AuthorizedKeys.parse(`${alice.publicKeyLine()}\n`);

const log = (event: AuthLogEvent) => {
  const who = event.fingerprint ? ` key ${event.fingerprint}` : '';
  console.log(
    `  server log: ${event.method} ${event.outcome} from ${event.remoteAddress}${who}: ${event.reason}`,
  );
};

/** Starts a server admitting `cidrs`, then key auth; returns it and its port. */
async function serve(cidrs: string[]) {
  const server = new ThreadedServer(Calculator, {
    host: '127.0.0.1',
    port: 0,
    authenticator: compose(
      ipAllowlist(cidrs),
      publicKeyAuth({ identity: hostKey, authorizedKeys }),
    ),
    log,
  });
  const address = await server.listen();
  if (!('port' in address)) throw new Error('expected a TCP address');
  return { server, port: address.port };
}

/** Tries to log in as `identity` and add 20 + 22; prints what happened. */
async function attempt(name: string, identity: Identity, port: number): Promise<void> {
  const knownHosts = KnownHosts.parse('');
  knownHosts.add('127.0.0.1', port, hostKey.publicKey);
  try {
    const conn = await connect('127.0.0.1', port, { identity, knownHosts, timeout: 5000 });
    const calc = conn.root as Remote<Calculator>;
    console.log(`${name}: admitted, add(20, 22) = ${await calc.add(20, 22)}`);
    await conn.close();
  } catch (error) {
    const e = error as Error;
    console.log(`${name}: refused (${e.name}: ${e.message})`);
  }
}

const cidrs = ['127.0.0.0/8', '::1/128'];
console.log(`server 1 admits ${cidrs.join(', ')}, then keys in authorized_keys (alice's)`);
const open = await serve(cidrs);
await attempt('alice', alice, open.port);
await attempt('mallory', mallory, open.port);
await open.server.close();

console.log('server 2 admits only 10.0.0.0/8, then the same keys');
const closed = await serve(['10.0.0.0/8']);
await attempt('alice', alice, closed.port);
await closed.server.close();
console.log('done');
