/**
 * `keyway serve module.js`: exposes a module's Service on a ThreadedServer (or, with
 * `--pool N`, a ThreadPoolServer; with `--workers N`, a ProcessPoolServer) with the
 * authentication chosen on the command line (docs/design.md §2 CLI, §4 authenticators,
 * §5 servers). Prints the address and the host key fingerprint clients should expect,
 * logs each login and refusal with its reason (text or JSON lines), and on SIGINT or
 * SIGTERM drains: no new connections, calls in flight get `--grace` seconds to finish,
 * then it reports what it drained and exits 0.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  AuthorizedKeys,
  CidrList,
  DEFAULT_SERVER_LIMITS,
  PasswordFile,
  ProcessPoolServer,
  type RefusedEvent,
  type ServerStats,
  ThreadedServer,
  ThreadPoolServer,
} from 'keyway-rpc';
import { flagOption, listOption, parseOptions, stringOption, UsageError } from '../args.js';
import { type CliIo, type Command, EXIT_OK } from '../command.js';
import { readPrivateKey } from '../keys.js';
import { defaultFile } from '../paths.js';
import createServeAuthenticator, {
  type ServeAuthMethod,
  type ServeAuthOptions,
} from '../serve-auth.js';
import {
  anonymousWarning,
  explainListenError,
  formatAddress,
  keyscanHint,
} from '../serve-listen.js';
import { LOG_FORMATS, type LogFormat, ServeLog } from '../serve-log.js';
import { loadServiceModule } from '../serve-module.js';
import { DEFAULT_PORT } from './keyscan.js';

const DEFAULT_GRACE_SECONDS = DEFAULT_SERVER_LIMITS.closeGraceMs / 1000;

const USAGE = `usage: keyway serve <module.js> [options]

Serves the module's default export (a Service class: one instance per connection, or an
instance shared by all) until SIGINT (Ctrl-C) or SIGTERM, which drain: no new
connections, calls in flight get --grace seconds to finish, then it exits 0.

options:
      --port <n>             TCP port (default ${DEFAULT_PORT}; 0 picks a free one)
      --host <addr>          address to listen on (default 127.0.0.1)
      --auth <method>        publickey (default), password or anonymous
      --allow-ip <cidr>      only these source addresses (repeatable), checked
                             before any cryptography
      --pool <n>             serve on n worker threads (ThreadPoolServer)
      --proxy-protocol <cidr>  load balancers that send a PROXY protocol header
                             (repeatable; 'unix' for every peer of a Unix socket):
                             their clients' addresses are used everywhere
      --workers <n>          serve on n worker processes that own their sockets
                             (ProcessPoolServer)
      --host-key <file>      the server's private key (default ~/.keyway/host_key;
                             make one with: keyway keygen -f ~/.keyway/host_key -N '')
  -P, --passphrase <text>    passphrase of an encrypted host key (asked for on a
                             terminal when omitted)
      --authorized-keys <f>  for publickey (default ~/.keyway/authorized_keys); edits
                             take effect at the next login, without a restart
      --passwords <file>     for password (default ~/.keyway/passwords); so do
                             \`keyway passwd add/remove\`
      --export <name>        serve this export instead of the default one
      --grace <seconds>      how long calls in flight may run on after SIGINT or
                             SIGTERM before their connections close (default ${DEFAULT_GRACE_SECONDS})
      --remote-stack         send the stack trace of an error a method throws to the
                             client (it shows where in the service it failed; off by
                             default, as it reveals file paths)
      --log-format <f>       text (default) or json: one JSON object per line
      --quiet                do not log each login (refusals are still logged)
  -h, --help                 show this help

environment:
  KEYWAY_DEBUG=1             also log every handshake and call (NODE_DEBUG=keyway too)
`;

const OPTIONS = {
  port: { type: 'string' },
  host: { type: 'string' },
  auth: { type: 'string' },
  'allow-ip': { type: 'string', multiple: true },
  pool: { type: 'string' },
  'proxy-protocol': { type: 'string', multiple: true },
  workers: { type: 'string' },
  'host-key': { type: 'string' },
  passphrase: { type: 'string', short: 'P' },
  'authorized-keys': { type: 'string' },
  passwords: { type: 'string' },
  export: { type: 'string' },
  grace: { type: 'string' },
  'remote-stack': { type: 'boolean' },
  'log-format': { type: 'string' },
  quiet: { type: 'boolean' },
} as const;

const METHODS: readonly ServeAuthMethod[] = ['publickey', 'password', 'anonymous'];

/** The longest --grace: a day. */
const MAX_GRACE_SECONDS = 86_400;

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

/** `--grace` in milliseconds: seconds, fractions allowed. */
function graceMs(text: string | undefined): number {
  if (text === undefined) return DEFAULT_SERVER_LIMITS.closeGraceMs;
  const seconds = Number(text);
  if (!/^[0-9]+(\.[0-9]+)?$/.test(text) || seconds > MAX_GRACE_SECONDS) {
    throw new UsageError(
      `--grace must be a number of seconds from 0 to ${MAX_GRACE_SECONDS}, got '${text}'`,
    );
  }
  return Math.round(seconds * 1000);
}

/** Warns when the database the method needs would let nobody in. */
async function warnIfEmpty(options: ServeAuthOptions, io: CliIo): Promise<void> {
  if (options.method === 'publickey') {
    const keys = await AuthorizedKeys.load(options.authorizedKeys);
    if (keys.list().every((entry) => entry.error !== undefined)) {
      io.err(
        `warning: ${options.authorizedKeys} authorizes no key, so nobody can log in yet\n` +
          `  add one with: keyway authorized-keys add <key.pub> --file ${options.authorizedKeys}\n`,
      );
    }
  } else if (options.method === 'password') {
    const passwords = await PasswordFile.load(options.passwords);
    if (passwords.size === 0) {
      io.err(
        `warning: ${options.passwords} has no users, so nobody can log in yet\n` +
          `  add one with: keyway passwd add <user> --host-key ${options.hostKey} --file ${options.passwords}\n`,
      );
    }
  }
}

/**
 * Resolves on the first SIGINT or SIGTERM. A second one while draining calls `again`.
 */
function interrupted(again: (signal: string) => void): Promise<string> {
  return new Promise((done) => {
    let first = true;
    const on = (signal: string): void => {
      if (first) {
        first = false;
        done(signal);
      } else again(signal);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}

function plural(n: number, word: string, many = `${word}s`): string {
  return `${n} ${n === 1 ? word : many}`;
}

/** A server of either kind, as far as serving and draining go. */
type AnyServer = ThreadedServer | ThreadPoolServer | ProcessPoolServer;

/**
 * Closes `server` with `grace` ms for calls in flight, logging what there was to drain
 * and whether it all finished in time.
 */
async function drain(
  server: AnyServer,
  grace: number,
  signal: string,
  log: ServeLog,
): Promise<void> {
  // A pool asks its workers; a busy machine may need longer than the default second.
  const stats = (): Promise<ServerStats> =>
    server instanceof ThreadedServer ? server.stats() : server.stats({ timeoutMs: 5_000 });
  const before = await stats();
  log.event(
    'draining',
    { signal, connections: before.open, calls: before.serving, graceMs: grace },
    `${signal}: draining ${plural(before.open, 'connection')} and ${plural(before.serving, 'call')} in flight ` +
      `(up to ${grace / 1000} s; send it again to stop at once)`,
  );
  const started = performance.now();
  let done = false;
  const closing = server.close(grace).finally(() => {
    done = true;
  });
  let last = before;
  // The calls still running at the last look before the grace ran out are the ones cut off.
  while (!done) {
    await Promise.race([closing, new Promise((r) => setTimeout(r, 100))]);
    if (done) break;
    try {
      last = await stats();
    } catch {
      // Closing under our feet: the last count stands.
    }
  }
  await closing;
  const inTime = performance.now() - started < grace;
  const cut = inTime ? 0 : last.serving;
  log.event(
    'drained',
    {
      connections: before.open,
      calls: before.serving,
      callsCutOff: cut,
      ms: Math.round(performance.now() - started),
    },
    cut === 0
      ? `drained ${plural(before.open, 'connection')}; ${plural(before.serving, 'call')} in flight finished`
      : `drained ${plural(before.open, 'connection')}; the grace of ${grace / 1000} s ran out with ` +
          `${plural(cut, 'call')} still running, cut off`,
  );
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
    const format = (stringOption(parsed, 'log-format') ?? 'text') as LogFormat;
    if (!LOG_FORMATS.includes(format)) {
      throw new UsageError(
        `--log-format must be one of ${LOG_FORMATS.join(', ')}, got '${format}'`,
      );
    }
    const grace = graceMs(stringOption(parsed, 'grace'));
    const remoteStack = flagOption(parsed, 'remote-stack');
    const exportName = stringOption(parsed, 'export') ?? 'default';
    const log = new ServeLog((line) => io.err(line), format, flagOption(parsed, 'quiet'));
    // Debug events (KEYWAY_DEBUG=1) take the log's format; pool workers read it from the
    // environment they inherit.
    if (format === 'json') process.env.KEYWAY_DEBUG_FORMAT = 'json';
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
    const warning = anonymousWarning(host, method);
    if (warning !== undefined && options.allowIp.length === 0) io.err(warning);
    const service = await loadServiceModule(modulePath, exportName);
    const trusted = listOption(parsed, 'proxy-protocol');
    try {
      new CidrList(trusted.filter((entry) => entry !== 'unix'));
    } catch (error) {
      throw new UsageError(`bad --proxy-protocol: ${(error as Error).message}`);
    }
    const proxyProtocol = trusted.length === 0 ? undefined : { trusted };
    if (proxyProtocol !== undefined && workers !== undefined)
      throw new UsageError(
        '--proxy-protocol works with the threaded server and --pool, not --workers',
      );
    const connection = remoteStack ? { includeRemoteStack: true } : undefined;
    const authModule = { module: new URL('../serve-auth.js', import.meta.url).href, options };
    const server: AnyServer =
      workers !== undefined
        ? new ProcessPoolServer(pathToFileURL(modulePath).href, {
            host,
            port,
            workers,
            serviceExport: exportName,
            closeGraceMs: grace,
            connection,
            authenticator: authModule,
          })
        : pool === undefined
          ? new ThreadedServer(service, {
              host,
              port,
              authenticator,
              closeGraceMs: grace,
              connection,
              proxyProtocol,
              log: (event) => log.auth(event),
            })
          : new ThreadPoolServer(pathToFileURL(modulePath).href, {
              host,
              port,
              threads: pool,
              proxyProtocol,
              serviceExport: exportName,
              closeGraceMs: grace,
              connection,
              authenticator: authModule,
              log: (event) => log.auth(event),
            });
    if (workers !== undefined)
      server.on('authenticated', (event: { remoteAddress: string }) =>
        log.event('login', { ...event }, `login from ${event.remoteAddress}`),
      );
    let listening = false;
    // Until listen() settles its own rejection reports a failure; once, with a hint.
    server.on('error', (error: Error) => {
      if (listening)
        log.event('error', { error: error.message }, `server error: ${error.message}`, 'error');
    });
    server.on('refused', (event: RefusedEvent) =>
      log.event(
        'dropped',
        { ...event, error: event.error?.message },
        `dropped a connection from ${event.remoteAddress}: ${event.reason}${event.error === undefined ? '' : ` (${event.error.message})`}`,
        'warn',
      ),
    );
    let address: Awaited<ReturnType<AnyServer['listen']>>;
    try {
      address = await server.listen();
    } catch (error) {
      await server.close(0).catch(() => {});
      throw explainListenError(error, host, port);
    }
    listening = true;
    io.out(
      `keyway: serving ${parsed.positionals[0]} on ${formatAddress(address)}` +
        `${pool === undefined ? '' : ` with ${plural(pool, 'worker thread')}`}` +
        `${workers === undefined ? '' : ` with ${plural(workers, 'worker process', 'worker processes')}`}\n` +
        `host key ${identity.fingerprint} (clients check it: ${keyscanHint(address)})\n` +
        `auth ${method}${options.allowIp.length === 0 ? '' : ` from ${options.allowIp.join(', ')}`}; Ctrl-C to stop\n`,
    );
    log.event(
      'listening',
      { address: formatAddress(address), hostKey: identity.fingerprint, auth: method, pool },
      '',
    );
    const signal = await interrupted((again) => {
      log.event('stopped', { signal: again }, `${again} again: stopping now`, 'warn');
      process.exit(1);
    });
    await drain(server, grace, signal, log);
    log.event('closed', {}, 'closed');
    // A method cut off by the grace may still hold a timer or a socket of its own; the
    // server is closed, so that work has nobody to answer and must not keep the process.
    setTimeout(() => process.exit(process.exitCode ?? EXIT_OK), 200).unref();
    return EXIT_OK;
  },
};
