/**
 * Debug output for a whole process: `KEYWAY_DEBUG=1` (or Node's own
 * `NODE_DEBUG=keyway`) prints every handshake and every call served on stderr, one line
 * each, as `KEYWAY <pid>: <event> key=value ...` (the format of Node's `util.debuglog`).
 * Servers and `connect` turn it on when they are created; {@link setDebugLogger} sends the
 * same events anywhere else (the `keyway serve --log-format json` log, for one).
 */
import { debuglog } from 'node:util';
import { type DebugLogger, setRpcDebugLogger } from '@keyway/core';
import { setSecureDebugLogger } from '@keyway/secure';

let checked = false;

/**
 * Sets (or, with `undefined`, removes) the function that receives the debug events of the
 * secure layer (handshakes, authentication) and of the RPC engine (calls served).
 * @example setDebugLogger((event, fields) => console.error(event, fields))
 */
export function setDebugLogger(logger: DebugLogger | undefined): void {
  // Set explicitly, it wins over the environment's request.
  checked = true;
  setRpcDebugLogger(logger);
  setSecureDebugLogger(logger);
}

/** `value` as it goes in one `key=value` pair: quoted when it holds a blank. */
function formatValue(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return /[\s"=]/.test(text) || text === '' ? JSON.stringify(text) : text;
}

/** One debug event as a line of text: `event key=value ...` (undefined fields left out). */
export function formatDebugEvent(event: string, fields: Readonly<Record<string, unknown>>): string {
  const pairs = Object.entries(fields)
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => `${key}=${formatValue(value)}`);
  return pairs.length === 0 ? event : `${event} ${pairs.join(' ')}`;
}

/** Whether the environment asks for debug output: `KEYWAY_DEBUG` set (not `0`), or `NODE_DEBUG=keyway`. */
export function debugRequested(env: NodeJS.ProcessEnv = process.env): boolean {
  const flag = env.KEYWAY_DEBUG;
  if (flag !== undefined && flag !== '' && flag !== '0' && flag.toLowerCase() !== 'false') {
    return true;
  }
  return /(^|[\s,])keyway($|[\s,])/i.test(env.NODE_DEBUG ?? '');
}

/**
 * Turns on debug output on stderr when the environment asks for it (see
 * {@link debugRequested}) and no logger is set yet: text lines, or JSON lines when
 * `KEYWAY_DEBUG_FORMAT=json`. Idempotent: servers and `connect`
 * call it; only the first call looks.
 * @internal
 */
export function debugFromEnvironment(): void {
  if (checked) return;
  checked = true;
  if (!debugRequested()) return;
  if (process.env.KEYWAY_DEBUG_FORMAT === 'json') {
    setDebugLogger((event, fields) =>
      process.stderr.write(
        `${JSON.stringify({ time: new Date().toISOString(), level: 'debug', pid: process.pid, event, ...fields })}\n`,
      ),
    );
    return;
  }
  const nodeDebug = debuglog('keyway');
  const write = nodeDebug.enabled
    ? (line: string) => nodeDebug('%s', line)
    : (line: string) => process.stderr.write(`KEYWAY ${process.pid}: ${line}\n`);
  setDebugLogger((event, fields) => write(formatDebugEvent(event, fields)));
}
