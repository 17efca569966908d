/**
 * Example (a): expose a service class remotely with a ThreadedServer (docs/design.md §2, §5).
 *
 * The server makes a host key, listens on 127.0.0.1 and prints the key's fingerprint and
 * its address — what a client checks before it trusts the server. Then, so the example
 * runs to completion by itself, a client pins that key, calls the service and the server
 * closes. With `--serve` the server keeps running until Ctrl-C instead.
 *
 * Run from the repository root:
 *   pnpm --filter @keyway/examples run expose            (one run, then exit)
 *   pnpm --filter @keyway/examples run expose -- --serve --port 18861
 */
import {
  AccessDeniedError,
  anonymousAuth,
  connect,
  generateIdentity,
  KnownHosts,
  type Remote,
  Service,
  ThreadedServer,
} from 'keyway-rpc';

/** The exposed service: one instance per connection, because the class is passed. */
export class Calculator extends Service {
  // Never reachable by a peer: #private and _underscored members are not exposed.
  #calls = 0;
  _secret = 'not for peers';

  /** @returns a + b */
  add(a: number, b: number): number {
    this.#calls++;
    return a + b;
  }

  /** @returns the calls this connection has made */
  calls(): number {
    return this.#calls;
  }
}

function option(name: string): string | undefined {
  const at = process.argv.indexOf(name);
  return at === -1 ? undefined : process.argv[at + 1];
}

const hostKey = generateIdentity('example-host');
const server = new ThreadedServer(Calculator, {
  host: '127.0.0.1',
  port: Number(option('--port') ?? 0),
  // Encrypted, and the server proves its host key; clients stay anonymous here
  // (key-client.ts shows clients logging in with their own keys).
  authenticator: anonymousAuth({ identity: hostKey }),
});
const address = await server.listen();
if (!('port' in address)) throw new Error('expected a TCP address');
console.log(`host key fingerprint: ${hostKey.fingerprint}`);
console.log(`listening on ${address.host}:${address.port}`);

if (process.argv.includes('--serve')) {
  console.log('serving until Ctrl-C');
  process.once('SIGINT', () => {
    void server.close().then(() => console.log('server closed'));
  });
} else {
  // A client that knows the host key, as if copied into its known_hosts by an admin.
  const knownHosts = KnownHosts.parse('');
  knownHosts.add('127.0.0.1', address.port, hostKey.publicKey);
  const conn = await connect('127.0.0.1', address.port, { knownHosts });
  const calc = conn.root as Remote<Calculator>;
  console.log(`add(2, 3) = ${await calc.add(2, 3)}`);
  console.log(`add(40, 2) = ${await calc.add(40, 2)}`);
  console.log(`calls() = ${await calc.calls()}`);
  try {
    // Remote<Calculator> has no `_secret` at all; go around the types to ask anyway.
    await (conn.root as unknown as { _secret(): Promise<string> })._secret();
  } catch (error) {
    const denied = error instanceof AccessDeniedError;
    console.log(`_secret is not exposed: ${denied ? 'AccessDeniedError' : String(error)}`);
  }
  await conn.close();
  await server.close();
  console.log('server closed');
}
