/**
 * What `keyway serve` says about where it listens: the banner with the command clients
 * use to fetch the host key, a warning when anonymous access reaches other machines, and
 * listen errors (port in use, address not on this machine) with what to do.
 */
import { hostname } from 'node:os';
import type { BoundAddress } from 'keyway-rpc';
import { CliError } from './command.js';

/** `host:port`, with brackets around an IPv6 address. */
export function formatAddress(address: BoundAddress): string {
  if ('path' in address) return address.path;
  return address.family === 'IPv6' || address.host.includes(':')
    ? `[${address.host}]:${address.port}`
    : `${address.host}:${address.port}`;
}

/** Whether `host` is reachable from this machine only. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return (
    h === 'localhost' ||
    h === '::1' ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) ||
    /^::ffff:127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h)
  );
}

/** Whether `host` is a wildcard: every address of the machine. */
function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '[::]';
}

/** The warning for anonymous access on an address other machines reach, or undefined. */
export function anonymousWarning(host: string, method: string): string | undefined {
  if (method !== 'anonymous' || isLoopback(host)) return undefined;
  return (
    `warning: --auth anonymous on ${host} lets anyone who can reach this machine call the service\n` +
    '  serve on 127.0.0.1, or add --allow-ip <cidr>, or use --auth publickey\n'
  );
}

/**
 * Where clients should run `keyway keyscan`: the bound address, except that a wildcard
 * address (`0.0.0.0`, `::`) is nowhere a client can connect to, so the machine's name and
 * the loopback address stand in for it.
 */
export function keyscanHint(address: BoundAddress, name: string = hostname()): string {
  if ('path' in address) return `keyway keyscan ${address.path}`;
  if (!isWildcard(address.host)) return `keyway keyscan ${formatAddress(address)}`;
  const loopback =
    address.family === 'IPv6' ? `[::1]:${address.port}` : `127.0.0.1:${address.port}`;
  return `keyway keyscan ${name}:${address.port}, or ${loopback} on this machine`;
}

/** A listen error as a CLI failure that says what to do. */
export function explainListenError(error: unknown, host: string, port: number): CliError {
  const code = (error as { code?: unknown } | null)?.code;
  const where = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  let message: string;
  switch (code) {
    case 'EADDRINUSE':
      message =
        `${where} is already in use (another keyway serve, or another program)\n` +
        '  stop that program, or pick another port: --port <n> (--port 0 picks a free one)';
      break;
    case 'EADDRNOTAVAIL':
      message =
        `cannot listen on ${host}: no network interface of this machine has that address\n` +
        '  --host takes one of its addresses: 127.0.0.1 (this machine only), 0.0.0.0 (all)';
      break;
    case 'EACCES':
      message = `not allowed to listen on ${where}\n  ports below 1024 need privileges: use --port 1024 or above`;
      break;
    default:
      message = `cannot listen on ${where}: ${(error as Error)?.message ?? String(error)}`;
  }
  return new CliError(message, { cause: error });
}
