/**
 * Example (b): a client logging in with its own key (docs/design.md §2, §4), in the SSH model:
 * the server knows the client's public key from `authorized_keys`, the client knows the
 * server's host key from `known_hosts`. The client then calls methods, uses a remote
 * object the server hands back, and passes a callback the server calls.
 *
 * The key files live in a directory: the one you pass (made on first run, reused after),
 * or a temp directory removed at the end. The example starts the server, runs the
 * client and closes, so it runs to completion by itself.
 *
 * Run from the repository root:
 *   pnpm --filter @keyway/examples run key-client              (keys in a temp dir)
 *   pnpm --filter @keyway/examples run key-client -- ./keys    (keys kept in ./keys)
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  AuthorizedKeys,
  connect,
  currentCall,
  generateIdentity,
  type Identity,
  KnownHosts,
  loadIdentity,
  publicKeyAuth,
  type Remote,
  release,
  Service,
  ThreadedServer,
} from 'keyway-rpc';

/** A notebook lives on the server; the client gets it by reference. */
export class Notebook {
  readonly #lines: string[] = [];
  readonly #title: string;
  constructor(title: string) {
    this.#title = title;
  }

  /** Getters are exposed; own fields are not unless the owner opts in. */
  get title(): string {
    return this.#title;
  }

  /** @returns how many lines the notebook holds */
  write(line: string): number {
    return this.#lines.push(line);
  }

  /** @returns every line */
  read(): string[] {
    return [...this.#lines];
  }
}

/** The service: who am I, a notebook by reference, and a countdown calling us back. */
export class Library extends Service {
  /** @returns the caller's key, as the server authenticated it */
  whoami(): string {
    const { publicKey } = currentCall().connection.credentials as {
      publicKey?: { fingerprint: string; comment: string };
    };
    return publicKey ? `${publicKey.comment} (${publicKey.fingerprint})` : 'anonymous';
  }

  /** @returns a new notebook, which stays on the server */
  open(title: string): Notebook {
    return new Notebook(title);
  }

  /** Calls the client's `onTick` for n, n-1, ... 1, waiting for each call to return. */
  async countdown(n: number, onTick: (left: number) => Promise<void>): Promise<string> {
    for (let left = n; left > 0; left--) await onTick(left);
    return 'lift-off';
  }
}

/** Reads a key file, or makes one (private file 0600, public file beside it). */
async function keyIn(path: string, comment: string): Promise<Identity> {
  if (existsSync(path)) return loadIdentity(path);
  const identity = generateIdentity(comment);
  const files = identity.toOpenSSH();
  await writeFile(path, files.privateKey, { mode: 0o600 });
  await writeFile(`${path}.pub`, files.publicKey, { mode: 0o644 });
  console.log(`made ${path}`);
  return identity;
}

// `pnpm run key-client -- ./keys` passes the `--` through; a relative directory is taken
// from where pnpm was started (INIT_CWD), not from this package's directory.
const given = process.argv.slice(2).find((arg) => arg !== '--');
const dir = given
  ? resolve(process.env.INIT_CWD ?? process.cwd(), given)
  : await mkdtemp(join(tmpdir(), 'keyway-example-'));
// Key databases in a directory others can write are refused, as sshd's StrictModes does.
await mkdir(dir, { recursive: true, mode: 0o700 });
console.log(`key files in ${dir}`);

try {
  // Server side: a host key and the clients it admits.
  const hostKey = await keyIn(join(dir, 'host_key'), 'example-host');
  const clientKey = await keyIn(join(dir, 'id_ed25519'), 'alice@example');
  const authorizedKeys = await AuthorizedKeys.load(join(dir, 'authorized_keys'));
  if (authorizedKeys.list().length === 0) {
    authorizedKeys.add(clientKey.publicKeyLine());
    await authorizedKeys.save(join(dir, 'authorized_keys'));
  }
  const server = new ThreadedServer(Library, {
    authenticator: publicKeyAuth({ identity: hostKey, authorizedKeys }),
  });
  const address = await server.listen();
  if (!('port' in address)) throw new Error('expected a TCP address');
  console.log(`server ${hostKey.fingerprint} on 127.0.0.1:${address.port}`);

  // Client side: trust the host key for this address in known_hosts, as
  // `keyway known-hosts add` would, then log in with the client key.
  const knownHostsPath = join(dir, 'known_hosts');
  const knownHosts = await KnownHosts.load(knownHostsPath);
  knownHosts.add('127.0.0.1', address.port, hostKey.publicKey);
  await knownHosts.save();
  const conn = await connect('127.0.0.1', address.port, {
    identity: await loadIdentity(join(dir, 'id_ed25519')),
    knownHosts: await KnownHosts.load(knownHostsPath),
  });
  const library = conn.root as Remote<Library>;

  console.log(`the server sees: ${await library.whoami()}`);

  // `open()` returns a stub at once: the two writes are pipelined behind it.
  const notebook = library.open('groceries');
  await notebook.write('milk');
  console.log(`notebook lines: ${await notebook.write('eggs')}`);
  console.log(`notebook "${await notebook.title}": ${(await notebook.read()).join(', ')}`);
  release(notebook);

  // The server calls this function back, over the same connection.
  const result = await library.countdown(3, async (left) => {
    console.log(`callback from the server: ${left}`);
  });
  console.log(`countdown returned: ${result}`);

  await conn.close();
  await server.close();
  console.log('closed');
} finally {
  if (!given) await rm(dir, { recursive: true, force: true });
}
