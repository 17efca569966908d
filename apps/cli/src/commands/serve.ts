/**
 * `keyway serve module.js`: exposes a module's Service on a ThreadedServer (or, with
 * `--pool N`, a ThreadPoolServer; with `--workers N`, a ProcessPoolServer) with the authentication chosen on the command line
 * (docs/design.md §2 CLI, §4 authenticators, §5 servers). Prints the address and the host key
 * fingerprint clients should expect; Ctrl-C (SIGINT) or SIGTERM closes gracefully,
 * letting calls in flight finish.
 */
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  type AuthLogEvent,
  AuthorizedKeys,
  type BoundAddress,
  PasswordFile,
  ProcessPoolServer,
  ThreadedServer,
  ThreadPoolServer,
} from 'keyway-rpc';
import { flagOption, listOption, parseOptions, stringOption, UsageError } from '../args.js';
import { CliError, type CliIo, type Command, EXIT_OK } from '../command.js';
import { readPrivateKey } from '../keys.js';
import { defaultFile } from '../paths.js';
import createServeAuthenticator, {
  type ServeAuthMethod,
  type ServeAuthOptions,
} from '../serve-auth.js';
import { DEFAULT_PORT } from './keyscan.js';

const USAGE = `usage: keyway serve <module.js> [options]

Serves the module's default export (a Service class: one instance per connection, or an
instance shared by all) until Ctrl-C, which closes gracefully.

options:
      --port <n>             TCP port (default ${DEFAULT_PORT}; 0 picks a free one)
      --host <addr>          address to listen on (default 127.0.0.1)
      --auth <method>        publickey (default), password or anonymous
      --allow-ip <cidr>      only these source addresses (repeatable), checked
                             before any cryptography
      --pool <n>             serve on n worker threads (ThreadPoolServer)
      --workers <n>          serve on n worker processes that own their sockets
                             (ProcessPoolServer)
      --host-key <file>      the server's private key (default ~/.keyway/host_key;
                             make one with: keyway keygen -f ~/.keyway/host_key -N '')
  -P, --passphrase <text>    passphrase of an encrypted host key (asked for on a
                             terminal when omitted)
      --authorized-keys <f>  for publickey (default ~/.keyway/authorized_keys)
      --passwords <file>     for password (default ~/.keyway/passwords)
      --export <name>        serve this export instead of the default one
      --quiet                do not log each login
  -h, --help                 show this help
`;

const OPTIONS = {
  port: { type: 'string' },
  host: { type: 'string' },
  auth: { type: 'string' },
  'allow-ip': { type: 'string', multiple: true },
  pool: { type: 'string' },
  workers: { type: 'string' },
  'host-key': { type: 'string' },
  passphrase: { type: 'string', short: 'P' },
  'authorized-keys': { type: 'string' },
  passwords: { type: 'string' },
  export: { type: 'string' },
  quiet: { type: 'boolean' },
} as const;

const METHODS: readonly ServeAuthMethod[] = ['publickey', 'password', 'anonymous'];

function integer(
  text: string | undefined,
  name: string,
  min: number,
  max: number,
): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!/^[0-9]{1,6}$/.test(text) || value < min || value > max) {
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got '${text}'`);
  }
  return value;
}

function formatAddress(address: BoundAddress): string {
  if ('path' in address) return address.path;
  return address.family === 'IPv6'
    ? `[${address.host}]:${address.port}`
    : `${address.host}:${address.port}`;
}

function describeLogin(event: AuthLogEvent): string {
  const who = event.user ?? event.fingerprint;
  return `${event.outcome === 'success' ? 'login' : 'refused'} ${event.method} from ${event.remoteAddress}${who === undefined ? '' : ` (${who})`}: ${event.reason}\n`;
}

/** Warns when the database the method needs would let nobody in. */
async function warnIfEmpty(options: ServeAuthOptions, io: CliIo): Promise<void> {
  if (options.method === 'publickey') {
    const keys = await AuthorizedKeys.load(options.authorizedKeys);
    if (keys.list().every((entry) => entry.error !== undefined)) {
      io.err(
        `warning: ${options.authorizedKeys} authorizes no key, so nobody can log in\n` +
          `  add one with: keyway authorized-keys add <key.pub> --file ${options.authorizedKeys}\n`,
      );
    }
  } else if (options.method === 'password') {
    const passwords = await PasswordFile.load(options.passwords);
    if (passwords.size === 0) {
      io.err(
        `warning: ${options.passwords} has no users, so nobody can log in\n` +
          `  add one with: keyway passwd add <user> --host-key ${options.hostKey} --file ${options.passwords}\n`,
      );
    }
  }
}

/** Resolves on the first SIGINT or SIGTERM. */
function interrupted(): Promise<string> {
  return new Promise((done) => {
    const on = (signal: string): void => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      done(signal);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}

/** Imports the service module and picks its export, with errors that say what to fix. */
async function loadService(path: string, exportName: string): Promise<object> {
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(path);
  } catch (error) {
    throw new CliError(`${path}: no such file\n  give the path of a built JavaScript module`, {
      cause: error,
    });
  }
  if (!info.isFile()) throw new CliError(`${path}: not a file`);
  let module: Record<string, unknown>;
  try {
    module = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (error) {
    throw new CliError(`${path}: the module failed to load: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const service = module[exportName];
  if ((typeof service !== 'function' && typeof service !== 'object') || service === null) {
    throw new CliError(
      `${path} has no export '${exportName}' to serve\n  export a Service: export default class Calculator extends Service { … }`,
    );
  }
  return service;
}

/** The `serve` command. */
export const serveCommand: Command = {
  summary:
    "serve a module's Service (ThreadedServer; ThreadPoolServer with --pool, ProcessPoolServer with --workers)",
  usage: USAGE,
  async run(args, io) {
    const parsed = parseOptions(args, OPTIONS, [1, 1]);
    const modulePath = resolve(parsed.positionals[0]!);
    const port = integer(stringOption(parsed, 'port'), 'port', 0, 65535) ?? DEFAULT_PORT;
    const host = stringOption(parsed, 'host') ?? '127.0.0.1';
    const pool = integer(stringOption(parsed, 'pool'), 'pool', 1, 1024);
    const workers = integer(stringOption(parsed, 'workers'), 'workers', 1, 1024);
    if (pool !== undefined && workers !== undefined) {
      throw new UsageError('give either --pool or --workers, not both');
    }
    const method = (stringOption(parsed, 'auth') ?? 'publickey') as ServeAuthMethod;
    if (!METHODS.includes(method)) {
      throw new UsageError(`--auth must be one of ${METHODS.join(', ')}, got '${method}'`);
    }
    const exportName = stringOption(parsed, 'export') ?? 'default';
    const hostKeyPath = stringOption(parsed, 'host-key') ?? defaultFile('host_key');
    const { identity, passphrase } = await readPrivateKey(
      hostKeyPath,
      stringOption(parsed, 'passphrase'),
    );
    const options: ServeAuthOptions = {
      method,
      hostKey: resolve(hostKeyPath),
      passphrase,
      authorizedKeys: resolve(
        stringOption(parsed, 'authorized-keys') ?? defaultFile('authorized_keys'),
      ),
      passwords: resolve(stringOption(parsed, 'passwords') ?? defaultFile('passwords')),
      allowIp: listOption(parsed, 'allow-ip'),
    };
    // Build the chain once here even for the pool: bad CIDRs, unreadable databases and a
    // password file made for another host key fail now, not in every worker.
    let authenticator: Awaited<ReturnType<typeof createServeAuthenticator>>;
    try {
      authenticator = await createServeAuthenticator(options);
    } catch (error) {
      if (error instanceof RangeError && /cidrs?:/i.test(error.message)) {
        throw new UsageError(`bad --allow-ip: ${error.message}`);
      }
      throw error;
    }
    await warnIfEmpty(options, io);
    const service = await loadService(modulePath, exportName);
    const quiet = flagOption(parsed, 'quiet');
    const log = (event: AuthLogEvent): void => {
      if (!quiet) io.err(describeLogin(event));
    };
    const authModule = { module: new URL('../serve-auth.js', import.meta.url).href, options };
    const server =
      workers !== undefined
        ? new ProcessPoolServer(pathToFileURL(modulePath).href, {
            host,
            port,
            workers,
            serviceExport: exportName,
            authenticator: authModule,
          })
        : pool === undefined
          ? new ThreadedServer(service, { host, port, authenticator, log })
          : new ThreadPoolServer(pathToFileURL(modulePath).href, {
              host,
              port,
              threads: pool,
              serviceExport: exportName,
              authenticator: authModule,
            });
    server.on('error', (error: Error) => io.err(`server error: ${error.message}\n`));
    if ((pool !== undefined || workers !== undefined) && !quiet) {
      server.on('authenticated', (event: { remoteAddress: string }) =>
        io.err(`login from ${event.remoteAddress}\n`),
      );
    }
    const address = await server.listen();
    io.out(
      `keyway: serving ${parsed.positionals[0]} on ${formatAddress(address)}` +
        `${pool === undefined ? '' : ` with ${pool} worker thread${pool === 1 ? '' : 's'}`}` +
        `${workers === undefined ? '' : ` with ${workers} worker process${workers === 1 ? '' : 'es'}`}\n` +
        `host key ${identity.fingerprint} (clients check it: keyway keyscan ${formatAddress(address)})\n` +
        `auth ${method}${options.allowIp.length === 0 ? '' : ` from ${options.allowIp.join(', ')}`}; Ctrl-C to stop\n`,
    );
    const signal = await interrupted();
    io.err(`${signal}: closing (calls in flight may finish)\n`);
    await server.close();
    io.err('closed\n');
    return EXIT_OK;
  },
};
