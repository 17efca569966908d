/**
 * `keyway keyscan host[:port]`: reads a keyway server's host key and prints its
 * known_hosts line, as ssh-keyscan does for SSH servers (docs/design.md §2 CLI;
 * docs/protocol.md §1 for the handshake). The key is read from the server's Noise
 * handshake message 2, whose static key the server proves it holds; it is NOT verified
 * against anything. Compare the printed fingerprint with the server's owner before adding
 * the line to known_hosts.
 */
import { type Socket, connect as tcpConnect } from 'node:net';
import { KnownHosts, scanHostKey } from 'keyway-rpc';
import { flagOption, parseOptions, stringOption, UsageError } from '../args.js';
import { CliError, type Command, EXIT_OK } from '../command.js';
import { DEFAULT_PORT, parseHostPort } from '../hosts.js';

export { DEFAULT_PORT } from '../hosts.js';

const USAGE = `usage: keyway keyscan [--hash] [--timeout ms] host[:port]

Connects to a keyway server, reads its host key from the handshake and prints the
known_hosts line for it (like ssh-keyscan), with its fingerprint on stderr. The key is
not verified: check the fingerprint with the server's owner before trusting it, e.g.
  keyway keyscan db.example:18861 >> ~/.keyway/known_hosts
The port defaults to ${DEFAULT_PORT}.

options:
      --hash           hash the host name, as ssh-keyscan -H
      --timeout <ms>   give up after this long (default 10000)
  -h, --help           show this help
`;

const OPTIONS = {
  hash: { type: 'boolean' },
  timeout: { type: 'string' },
} as const;

function connectTcp(host: string, port: number, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new CliError(`${host}:${port}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.off('error', onError);
      resolve(socket);
    });
    const onError = (error: Error): void => {
      clearTimeout(timer);
      reject(error);
    };
    socket.once('error', onError);
  });
}

/**
 * Reads the host key a keyway server presents at `host:port`, with the secure layer's
 * `scanHostKey`: the handshake stops once the server has proved its key (message 2), so
 * the scanner never authenticates and the server learns nothing about it.
 */
export async function readHostKey(
  host: string,
  port: number,
  timeoutMs: number,
): Promise<Uint8Array> {
  const socket = await connectTcp(host, port, timeoutMs);
  // The server may reset the connection once the handshake stops; that is expected.
  socket.on('error', () => {});
  try {
    return (await scanHostKey(socket, { timeoutMs })).publicKey;
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ERR_NOT_KEYWAY') {
      throw new CliError(
        `${host}:${port} is not a keyway server: ${(error as Error).message.replace(/^the peer does not speak keyway: /, '')}\n  check the port (keyway's default is ${DEFAULT_PORT})`,
        { cause: error },
      );
    }
    throw new CliError(
      `${host}:${port}: no keyway host key received (${(error as Error).message})\n  check that a keyway server listens there`,
      { cause: error },
    );
  } finally {
    socket.destroy();
  }
}

/** The `keyscan` command. */
export const keyscanCommand: Command = {
  summary: "print a server's known_hosts line (like ssh-keyscan)",
  usage: USAGE,
  async run(args, io) {
    const parsed = parseOptions(args, OPTIONS, [1, 1]);
    const { host, port } = parseHostPort(parsed.positionals[0]!, DEFAULT_PORT);
    const timeoutText = stringOption(parsed, 'timeout') ?? '10000';
    const timeoutMs = Number(timeoutText);
    if (!/^[0-9]{1,7}$/.test(timeoutText) || timeoutMs < 1) {
      throw new UsageError(`bad --timeout '${timeoutText}' (milliseconds)`);
    }
    const key = await readHostKey(host, port, timeoutMs);
    const line = KnownHosts.parse('');
    line.add(host, port, key, { hash: flagOption(parsed, 'hash') });
    const [entry] = line.list();
    io.err(`# ${host}:${port} ${entry?.fingerprint ?? ''}\n`);
    io.out(line.toString());
    return EXIT_OK;
  },
};
