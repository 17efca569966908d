/**
 * authorized_keys options (sshd(8) "AUTHORIZED_KEYS FILE FORMAT"): a comma-separated list
 * before the key, each `name` or `name="value"` (a `\"` inside the quotes is a literal
 * quote). keyway honours `from="…"`, `expiry-time="…"`, `restrict` and its own
 * `keyway-services="…"`; it accepts the pty/forwarding/user-rc flags as no-ops (keyway has
 * none of those features). Any other option (`command=`, `principals=`, `environment=`,
 * `permitopen=`, `cert-authority`, …) cannot be honoured, so the line fails closed: it
 * never authorizes. docs/security.md "authorized_keys".
 *
 * `restrict` withholds every optional capability of the login, as in sshd. keyway's one
 * such capability is classic mode (remote import and eval): `publicKeyAuth` turns
 * `restrict` into `credentials.restricted`, and `ClassicService` refuses such a login.
 * sshd's re-enabling flags after `restrict` (`pty`, `port-forwarding`, …) re-enable
 * features keyway does not have, so they leave the login restricted; keyway has no option
 * that re-enables classic mode (give the key a line without `restrict` instead), and an
 * unknown one such as `keyway-classic` fails closed like any other. `from=`, `expiry-time=`
 * and `keyway-services=` are checks of their own and apply wherever they stand beside
 * `restrict`.
 */

/** The options of one authorized_keys line, as keyway understands them. */
export interface AuthorizedKeyOptions {
  /**
   * `restrict` was given: the login gets no optional capability. It reaches services as
   * `credentials.restricted`; `ClassicService` refuses it.
   */
  restrict: boolean;
  /** The `from="…"` pattern list, when given. */
  from?: string;
  /** The `expiry-time="…"` instant, when given; the key is refused after it. */
  expiryTime?: Date;
  /** The `keyway-services="…"` names, when given; other services are refused. */
  services?: string[];
  /** Accepted no-op flags (`no-pty`, `port-forwarding`, …), lower-cased. */
  flags: string[];
}

/** Flags that only grant or deny features keyway does not have. */
const NO_OP_FLAGS = new Set([
  'no-pty',
  'no-port-forwarding',
  'no-agent-forwarding',
  'no-x11-forwarding',
  'no-user-rc',
  'pty',
  'port-forwarding',
  'agent-forwarding',
  'x11-forwarding',
  'user-rc',
]);

const VALUED_OPTIONS = new Set(['from', 'expiry-time', 'keyway-services']);

/** Longest options text accepted (sshd reads lines of at most 16 KiB). */
const MAX_OPTIONS = 8 * 1024;

/**
 * Splits a line into its options text and the rest, finding the first blank outside
 * double quotes (sshd's `sshkey_advance_past_options`).
 * @returns the options text and the rest, or undefined on an unterminated quote.
 */
export function splitOptions(line: string): { options: string; rest: string } | undefined {
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (!quoted && (c === ' ' || c === '\t'))
      return { options: line.slice(0, i), rest: line.slice(i) };
    if (c === '\\' && line[i + 1] === '"') i++;
    else if (c === '"') quoted = !quoted;
  }
  return quoted ? undefined : { options: line, rest: '' };
}

/**
 * Parses `expiry-time` values: `YYYYMMDD`, `YYYYMMDDHHMM` or `YYYYMMDDHHMMSS`, local time
 * unless followed by `Z` (UTC), as sshd's `parse_absolute_time`.
 */
export function parseExpiryTime(text: string): Date | undefined {
  const match = /^(\d{4})(\d{2})(\d{2})(?:(\d{2})(\d{2})(\d{2})?)?(Z?)$/.exec(text);
  if (match === null) return undefined;
  const [, y, mo, d, h = '0', mi = '0', s = '0', z] = match;
  const parts = [Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)] as const;
  const date = z === 'Z' ? new Date(Date.UTC(...parts)) : new Date(...parts);
  // Refuse dates that JavaScript would roll over (month 13, 31 February, hour 25…).
  const check =
    z === 'Z'
      ? [
          date.getUTCFullYear(),
          date.getUTCMonth(),
          date.getUTCDate(),
          date.getUTCHours(),
          date.getUTCMinutes(),
          date.getUTCSeconds(),
        ]
      : [
          date.getFullYear(),
          date.getMonth(),
          date.getDate(),
          date.getHours(),
          date.getMinutes(),
          date.getSeconds(),
        ];
  return check.every((v, i) => v === parts[i]) ? date : undefined;
}

/** Formats an instant as an `expiry-time` value in UTC (`YYYYMMDDHHMMSSZ`). */
export function formatExpiryTime(date: Date): string {
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return (
    pad(date.getUTCFullYear(), 4) +
    pad(date.getUTCMonth() + 1) +
    pad(date.getUTCDate()) +
    pad(date.getUTCHours()) +
    pad(date.getUTCMinutes()) +
    pad(date.getUTCSeconds()) +
    'Z'
  );
}

/** True for a service name keyway-services can carry. */
export function isServiceName(name: string): boolean {
  return /^[A-Za-z0-9._:@/-]{1,128}$/.test(name);
}

/**
 * Parses an options text.
 * @returns the options, or an error saying why the line can never authorize.
 */
export function parseKeyOptions(
  text: string,
): { options: AuthorizedKeyOptions } | { error: string } {
  const options: AuthorizedKeyOptions = { restrict: false, flags: [] };
  if (text.length > MAX_OPTIONS) return { error: 'options too long' };
  let i = 0;
  const seen = new Set<string>();
  while (i < text.length) {
    const nameMatch = /^[A-Za-z0-9-]+/.exec(text.slice(i, i + 64));
    if (nameMatch === null) return { error: `bad option syntax at offset ${i}` };
    const name = nameMatch[0].toLowerCase();
    i += nameMatch[0].length;
    let value: string | undefined;
    if (text[i] === '=') {
      if (text[i + 1] !== '"') return { error: `option ${name} needs a quoted value` };
      i += 2;
      let out = '';
      for (;;) {
        if (i >= text.length) return { error: `unterminated quote in option ${name}` };
        const c = text[i];
        if (c === '\\' && text[i + 1] === '"') {
          out += '"';
          i += 2;
        } else if (c === '"') {
          i++;
          break;
        } else {
          out += c;
          i++;
        }
      }
      value = out;
    }
    if (i < text.length) {
      if (text[i] !== ',') return { error: `bad option syntax at offset ${i}` };
      i++;
      if (i === text.length) return { error: 'trailing comma in options' };
    }
    if (seen.has(name)) return { error: `option ${name} given twice` };
    seen.add(name);
    const problem = applyOption(options, name, value);
    if (problem !== undefined) return { error: problem };
  }
  return { options };
}

function applyOption(
  options: AuthorizedKeyOptions,
  name: string,
  value: string | undefined,
): string | undefined {
  const wantsValue = VALUED_OPTIONS.has(name);
  if (wantsValue && value === undefined) return `option ${name} needs a value`;
  if (!wantsValue && value !== undefined && (name === 'restrict' || NO_OP_FLAGS.has(name))) {
    return `option ${name} takes no value`;
  }
  switch (name) {
    case 'restrict':
      options.restrict = true;
      return undefined;
    case 'from':
      if (value === '' || /[\s]/.test(value ?? ''))
        return 'from= needs a pattern list without blanks';
      options.from = value as string;
      return undefined;
    case 'expiry-time': {
      const date = parseExpiryTime(value as string);
      if (date === undefined) return `bad expiry-time "${(value as string).slice(0, 40)}"`;
      options.expiryTime = date;
      return undefined;
    }
    case 'keyway-services': {
      const names = (value as string).split(',');
      if (!names.every(isServiceName)) return 'keyway-services needs a list of service names';
      options.services = names;
      return undefined;
    }
    default:
      if (NO_OP_FLAGS.has(name)) {
        options.flags.push(name);
        return undefined;
      }
      return `unsupported option "${name}": keyway cannot honour it, so the key is refused`;
  }
}

/** Options for writing an authorized_keys line with {@link formatKeyOptions}. */
export interface AuthorizedKeyOptionsInput {
  /** Add `restrict`. */
  restrict?: boolean;
  /** `from="…"`: a pattern list (string or array of patterns). */
  from?: string | readonly string[];
  /** `expiry-time="…"`, written in UTC. */
  expiryTime?: Date;
  /** `keyway-services="…"`. */
  services?: readonly string[];
}

/**
 * Formats structured options as authorized_keys options text ('' for none).
 * @throws {TypeError} on a malformed value.
 */
export function formatKeyOptions(input: AuthorizedKeyOptionsInput): string {
  const parts: string[] = [];
  if (input.restrict === true) parts.push('restrict');
  if (input.from !== undefined) {
    const from = typeof input.from === 'string' ? input.from : input.from.join(',');
    if (from === '' || /[\s"\\]/.test(from))
      throw new TypeError('from must be a pattern list without blanks or quotes');
    parts.push(`from="${from}"`);
  }
  if (input.expiryTime !== undefined) {
    if (!(input.expiryTime instanceof Date) || Number.isNaN(input.expiryTime.getTime())) {
      throw new TypeError('expiryTime must be a valid Date');
    }
    parts.push(`expiry-time="${formatExpiryTime(input.expiryTime)}"`);
  }
  if (input.services !== undefined) {
    if (
      !Array.isArray(input.services) ||
      input.services.length === 0 ||
      !input.services.every(isServiceName)
    ) {
      throw new TypeError('services must be a non-empty list of service names');
    }
    parts.push(`keyway-services="${input.services.join(',')}"`);
  }
  return parts.join(',');
}
