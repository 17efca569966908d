/**
 * How `keyway shell` connects, as ssh does: the client key (its passphrase from `-P`,
 * `$KEYWAY_PASSPHRASE` or the terminal), the server's host key checked against
 * known_hosts (recorded under `--accept-new`, with ssh's "Permanently added" line), and
 * only then, if the server asks, the password (`$KEYWAY_PASSWORD` or the terminal). Each
 * refusal becomes a message with the command line that fixes it.
 */
import { existsSync } from 'node:fs';
import {
  type Connection,
  type ConnectOptions,
  connect,
  type Identity,
  KnownHosts,
  type PasswordRequest,
} from 'keyway-rpc';
import { CliError, type CliIo } from './command.js';
import { explainError } from './errors.js';
import { DEFAULT_PORT } from './hosts.js';
import { readPrivateKey } from './keys.js';
import { defaultFile, ensureParentDirectory } from './paths.js';
import { PromptCancelledError, readHidden, stdinIsTerminal } from './prompt.js';

/** The environment variable a password login may take its password from. */
export const PASSWORD_VARIABLE = 'KEYWAY_PASSWORD';

/** What the shell's command line asks for. */
export interface ShellTarget {
  host: string;
  port: number;
  /** `-i`: a key file that must exist; undefined for ~/.keyway/id_ed25519 when it exists. */
  identityPath: string | undefined;
  /** `-P`. */
  passphrase: string | undefined;
  /** `--known-hosts`; undefined for ~/.keyway/known_hosts. */
  knownHostsPath: string | undefined;
  acceptNew: boolean;
  /** `-l`: log in with a password as this user. */
  user: string | undefined;
  /** Per-call timeout in ms (0: none); undefined for the library's default. */
  callTimeoutMs: number | undefined;
}

/** The key offered, for the message when the server refuses it. */
interface Offer {
  identity: Identity | undefined;
  path: string;
}

/** `[host]:port`, or `host` for port 22, as known_hosts and ssh name a host. */
function hostName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

async function loadClientKey(target: ShellTarget): Promise<Offer> {
  const path = target.identityPath ?? defaultFile('id_ed25519');
  if (target.identityPath === undefined && !existsSync(path)) {
    return { identity: undefined, path };
  }
  try {
    const { identity } = await readPrivateKey(path, target.passphrase);
    return { identity, path };
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ENOENT') {
      throw new CliError(
        `key file ${path} is missing\n  check the -i path, or make a key there: keyway keygen -f '${path}'`,
        { cause: error },
      );
    }
    throw error;
  }
}

/** The message for a connection that failed, with what to run next. */
function explainConnectError(
  error: unknown,
  target: ShellTarget,
  offer: Offer,
  knownHostsPath: string,
): string {
  const address = `${target.host}:${target.port}`;
  const code = (error as { code?: unknown }).code;
  const message = error instanceof Error ? error.message : String(error);
  switch (code) {
    case 'ERR_HOST_KEY': {
      const unknown = /is not in known_hosts \(its key is (\S+)\)/.exec(message);
      if (unknown === null) return message;
      return (
        `host ${hostName(target.host, target.port)} is not in ${knownHostsPath}; its key is ${unknown[1]}\n` +
        `  check that fingerprint with the server's owner, then either connect once with\n` +
        `    keyway shell ${address} --accept-new\n` +
        `  or add the key first:\n` +
        `    keyway keyscan ${address} >> ${knownHostsPath}`
      );
    }
    case 'ERR_AUTHENTICATION': {
      const key =
        offer.identity === undefined
          ? `no key was offered (${offer.path} does not exist; make one with keyway keygen, or pass -i)`
          : `offered key ${offer.identity.fingerprint} from ${offer.path}`;
      const user = target.user === undefined ? '' : ` for user ${target.user}`;
      const advice =
        offer.identity === undefined
          ? ''
          : `\n  if the key should be accepted, ask the server's owner to add it to authorized_keys:\n    keyway pubkey ${offer.path}`;
      return `${address} refused the login${user}: ${key}${advice}`;
    }
    case 'ERR_NOT_KEYWAY':
      return `${address} is not a keyway server: ${message.replace(/^the peer does not speak keyway: /, '')}\n  check the port (keyway's default is ${DEFAULT_PORT})`;
    case 'ERR_CONNECTION_REFUSED':
      return `${address}: connection refused\n  check the host and port (default ${DEFAULT_PORT}), and that keyway serve runs there`;
    case 'ERR_TIMEOUT':
      return `${address}: ${message}\n  check the address, and any firewall between`;
    default:
      return explainError(error);
  }
}

/** Failures after which a second connection, with the password already typed, may work. */
function serverHungUp(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return (
    code === 'ERR_CONNECTION_RESET' ||
    code === 'ERR_CONNECTION_CLOSED' ||
    code === 'ERR_CHANNEL' ||
    code === 'ERR_HANDSHAKE'
  );
}

/**
 * Connects as the shell's command line asks.
 * @throws {CliError} with a message that says what to run next.
 */
export async function openShellConnection(target: ShellTarget, io: CliIo): Promise<Connection> {
  const offer = await loadClientKey(target);
  const knownHostsPath = target.knownHostsPath ?? defaultFile('known_hosts');
  if (target.acceptNew) await ensureParentDirectory(knownHostsPath);
  const knownHosts = await KnownHosts.load(knownHostsPath);
  const before = knownHosts.list().length;
  let reported = false;
  // Says, as ssh does, when --accept-new recorded the server's key.
  const reportAdded = (): void => {
    const entries = knownHosts.list();
    if (reported || entries.length === before) return;
    reported = true;
    const added = entries.at(-1);
    io.err(
      `Warning: Permanently added '${hostName(target.host, target.port)}' (ED25519 ${added?.fingerprint ?? ''}) to known_hosts (${knownHostsPath}).\n`,
    );
  };
  let typed: Promise<string> | undefined;
  const askPassword = (request: PasswordRequest): Promise<string> => {
    reportAdded();
    const fromEnvironment = process.env[PASSWORD_VARIABLE];
    if (fromEnvironment !== undefined) return Promise.resolve(fromEnvironment);
    if (!stdinIsTerminal()) {
      return Promise.reject(
        new CliError(
          `${request.host}:${request.port} asks for ${request.username}'s password\n  set $${PASSWORD_VARIABLE}, or run in a terminal to be asked`,
        ),
      );
    }
    typed ??= readHidden(`${request.username}@${request.host}'s password: `);
    return typed;
  };
  const options = (password: ConnectOptions['password']): ConnectOptions => ({
    identity: offer.identity,
    knownHosts,
    hostKeyPolicy: target.acceptNew ? 'accept-new' : 'strict',
    username: target.user,
    password,
    ...(target.callTimeoutMs !== undefined && {
      connection: { timeout: target.callTimeoutMs },
    }),
  });
  try {
    try {
      const conn = await connect(target.host, target.port, options(askPassword));
      reportAdded();
      return conn;
    } catch (error) {
      // The server gave up while the user was typing (its authentication deadline): the
      // password, once typed, goes to a new connection, whose host key is checked again.
      if (typed === undefined || !serverHungUp(error)) throw error;
      const password = await typed;
      return await connect(target.host, target.port, options(password));
    }
  } catch (error) {
    reportAdded();
    if (error instanceof CliError) throw error;
    if (error instanceof PromptCancelledError) throw new CliError(`password ${error.message}`);
    throw new CliError(explainConnectError(error, target, offer, knownHostsPath), {
      cause: error,
    });
  }
}
