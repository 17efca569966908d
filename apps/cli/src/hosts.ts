/**
 * Host arguments as ssh users write them (docs/security.md "known_hosts", `[host]:port`):
 * `host`, `host:port`, `[host]:port`, and IPv6 addresses in brackets (`[::1]:18861`). A
 * bare IPv6 address without a port is accepted too, as ssh-keygen -F accepts it. A host
 * written without a port means keyway's port, 18861, for every command.
 */
import { UsageError } from './args.js';

/**
 * keyway's customary port (RPyC's), meant wherever a host is written without one: by
 * `serve`, `shell`, `keyscan` and `known-hosts`.
 */
export const DEFAULT_PORT = 18861;

/** A parsed `host[:port]`. */
export interface HostPort {
  host: string;
  port: number;
}

function parsePort(text: string, whole: string): number {
  if (!/^[0-9]{1,5}$/.test(text)) throw new UsageError(`bad port in '${whole}'`);
  const port = Number(text);
  if (port < 1 || port > 65535) throw new UsageError(`port out of range in '${whole}' (1-65535)`);
  return port;
}

/**
 * Parses `host`, `host:port`, `[host]:port` or `[ipv6]`.
 * @param defaultPort - the port when none is written ({@link DEFAULT_PORT} by default).
 * @throws {UsageError} on an empty host, a bad port or unbalanced brackets.
 */
export function parseHostPort(text: string, defaultPort = DEFAULT_PORT): HostPort {
  let host: string;
  let port = defaultPort;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close === -1) throw new UsageError(`missing ']' in '${text}'`);
    host = text.slice(1, close);
    const rest = text.slice(close + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) throw new UsageError(`expected ':port' after ']' in '${text}'`);
      port = parsePort(rest.slice(1), text);
    }
  } else {
    const colons = text.split(':').length - 1;
    if (colons === 1) {
      const at = text.indexOf(':');
      host = text.slice(0, at);
      port = parsePort(text.slice(at + 1), text);
    } else {
      // No colon: a name. Several: an IPv6 address written without brackets or port.
      host = text;
    }
  }
  if (host === '' || /[\s,[\]]/.test(host)) throw new UsageError(`bad host in '${text}'`);
  return { host, port };
}
