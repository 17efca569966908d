/**
 * IPv4/IPv6 addresses and CIDR blocks, and OpenSSH's pattern matching (ssh_config(5)
 * PATTERNS: `*`, `?`, `!` negation, comma lists; sshd's `match_host_and_ip` for
 * authorized_keys `from="…"`). Used by the key databases and by an IP allowlist that runs
 * before any crypto (docs/security.md "Authentication"). IPv4-mapped IPv6 addresses
 * (`::ffff:a.b.c.d`, what a dual-stack Node socket reports) are treated as the IPv4
 * address, as sshd does.
 */

/** A parsed IP address. */
export interface IpAddress {
  /** 4 or 6. */
  family: 4 | 6;
  /** 4 or 16 bytes, network order. */
  bytes: Uint8Array;
}

/** A parsed CIDR block (`192.0.2.0/24`, `2001:db8::/32`, or one address). */
export interface CidrBlock {
  /** 4 or 6. */
  family: 4 | 6;
  /** Network address, host bits zero. */
  bytes: Uint8Array;
  /** Prefix length in bits. */
  prefix: number;
}

function parseIpv4(text: string): Uint8Array | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const part = parts[i] ?? '';
    // No leading zeros: "010" means 8 to some parsers and 10 to others.
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) return undefined;
    const value = Number(part);
    if (value > 255) return undefined;
    out[i] = value;
  }
  return out;
}

function parseIpv6(text: string): Uint8Array | undefined {
  if (text.length > 45 || !/^[0-9A-Fa-f:.]+$/.test(text)) return undefined;
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const groups = (half: string): number[] | undefined => {
    if (half === '') return [];
    const out: number[] = [];
    const parts = half.split(':');
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i] ?? '';
      if (i === parts.length - 1 && part.includes('.')) {
        const v4 = parseIpv4(part);
        if (v4 === undefined) return undefined;
        out.push(((v4[0] ?? 0) << 8) | (v4[1] ?? 0), ((v4[2] ?? 0) << 8) | (v4[3] ?? 0));
      } else {
        if (!/^[0-9A-Fa-f]{1,4}$/.test(part)) return undefined;
        out.push(Number.parseInt(part, 16));
      }
    }
    return out;
  };
  const head = groups(halves[0] ?? '');
  const tail = halves.length === 2 ? groups(halves[1] ?? '') : [];
  if (head === undefined || tail === undefined) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const all = [...head, ...new Array<number>(halves.length === 2 ? missing : 0).fill(0), ...tail];
  const bytes = new Uint8Array(16);
  all.forEach((group, i) => {
    bytes[2 * i] = group >> 8;
    bytes[2 * i + 1] = group & 0xff;
  });
  return bytes;
}

function unmapIpv4(bytes: Uint8Array): Uint8Array | undefined {
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return undefined;
  if (bytes[10] !== 0xff || bytes[11] !== 0xff) return undefined;
  return bytes.slice(12);
}

/**
 * Parses an IPv4 or IPv6 address (a `%zone` suffix is ignored). IPv4-mapped IPv6
 * addresses come back as IPv4.
 * @returns the address, or undefined when the text is not one.
 */
export function parseIp(text: string): IpAddress | undefined {
  if (typeof text !== 'string' || text.length > 64) return undefined;
  const v4 = parseIpv4(text);
  if (v4 !== undefined) return { family: 4, bytes: v4 };
  const zone = text.indexOf('%');
  const v6 = parseIpv6(zone >= 0 ? text.slice(0, zone) : text);
  if (v6 === undefined) return undefined;
  const mapped = unmapIpv4(v6);
  return mapped === undefined ? { family: 6, bytes: v6 } : { family: 4, bytes: mapped };
}

/** The canonical text of an address (IPv4 dotted quad; IPv6 lower-case, `::` compressed). */
export function formatIp(address: IpAddress): string {
  if (address.family === 4) return [...address.bytes].join('.');
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2)
    groups.push(((address.bytes[i] ?? 0) << 8) | (address.bytes[i + 1] ?? 0));
  // RFC 5952: compress the longest run (of two or more) of zero groups, the first if tied.
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

/**
 * Parses `address/prefix` or a bare address (a full-length prefix).
 * @returns the block, `'inconsistent'` when host bits are set below the prefix (OpenSSH
 * refuses those too), or undefined when the text is not a CIDR block.
 */
export function parseCidr(text: string): CidrBlock | 'inconsistent' | undefined {
  if (typeof text !== 'string') return undefined;
  const slash = text.indexOf('/');
  const address = parseIp(slash >= 0 ? text.slice(0, slash) : text);
  if (address === undefined) return undefined;
  const max = address.family === 4 ? 32 : 128;
  let prefix = max;
  if (slash >= 0) {
    const digits = text.slice(slash + 1);
    if (!/^(0|[1-9][0-9]{0,2})$/.test(digits)) return undefined;
    prefix = Number(digits);
    // A mapped IPv4 written as IPv6 keeps its IPv6 prefix length.
    if (address.family === 4 && text.slice(0, slash).includes(':')) prefix -= 96;
    if (prefix < 0 || prefix > max) return undefined;
  }
  for (let bit = prefix; bit < max; bit++) {
    if (((address.bytes[bit >> 3] ?? 0) >> (7 - (bit & 7))) & 1) return 'inconsistent';
  }
  return { family: address.family, bytes: address.bytes, prefix };
}

/** True when `address` lies inside `block`. */
export function cidrContains(block: CidrBlock, address: IpAddress): boolean {
  if (block.family !== address.family) return false;
  const whole = block.prefix >> 3;
  for (let i = 0; i < whole; i++) if (block.bytes[i] !== address.bytes[i]) return false;
  const rest = block.prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((block.bytes[whole] ?? 0) & mask) === ((address.bytes[whole] ?? 0) & mask);
}

/**
 * A list of CIDR blocks, for allowlists. Construction validates every entry.
 * @example
 * const allow = new CidrList(['127.0.0.0/8', '::1']);
 * allow.contains('::ffff:127.0.0.1'); // true
 */
export class CidrList {
  readonly #blocks: readonly CidrBlock[];

  /**
   * @param cidrs - `a.b.c.d/n`, `x:y::/n` or bare addresses.
   * @throws {TypeError} when `cidrs` is not an array of strings.
   * @throws {RangeError} naming the first entry that is not a valid CIDR block.
   */
  constructor(cidrs: readonly string[]) {
    if (!Array.isArray(cidrs)) throw new TypeError('cidrs must be an array of strings');
    this.#blocks = cidrs.map((entry) => {
      if (typeof entry !== 'string') throw new TypeError('cidrs must be an array of strings');
      const block = parseCidr(entry.trim());
      if (block === 'inconsistent') {
        throw new RangeError(`cidrs: "${entry}" has host bits set below its prefix length`);
      }
      if (block === undefined) throw new RangeError(`cidrs: "${entry}" is not a CIDR block`);
      return block;
    });
  }

  /** True when the address text parses and lies in one of the blocks. */
  contains(address: string): boolean {
    const parsed = parseIp(address);
    return parsed !== undefined && this.#blocks.some((block) => cidrContains(block, parsed));
  }
}

/**
 * OpenSSH's wildcard match: `*` any run of characters, `?` one character. Linear
 * backtracking (the classic two-pointer algorithm), so no pattern can make it exponential.
 */
export function matchPattern(text: string, pattern: string): boolean {
  let t = 0;
  let p = 0;
  let star = -1;
  let resume = 0;
  while (t < text.length) {
    const c = pattern[p];
    if (c === '?' || (c !== undefined && c !== '*' && c === text[t])) {
      t++;
      p++;
    } else if (c === '*') {
      star = p++;
      resume = t;
    } else if (star >= 0) {
      p = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (pattern[p] === '*') p++;
  return p === pattern.length;
}

/**
 * Matches text against a comma-separated pattern list, as OpenSSH's `match_pattern_list`.
 * @returns 1 on a positive match, -1 when a negated (`!`) pattern matches (which always
 * wins), 0 when nothing matches.
 */
export function matchPatternList(text: string, list: string, caseFold = true): -1 | 0 | 1 {
  const subject = caseFold ? text.toLowerCase() : text;
  let result: 0 | 1 = 0;
  for (const raw of list.split(',')) {
    const negated = raw.startsWith('!');
    let pattern = negated ? raw.slice(1) : raw;
    if (caseFold) pattern = pattern.toLowerCase();
    if (pattern === '') continue;
    if (matchPattern(subject, pattern)) {
      if (negated) return -1;
      result = 1;
    }
  }
  return result;
}

/**
 * sshd's `match_host_and_ip` for authorized_keys `from="…"`: each entry is a CIDR block,
 * an address pattern or a host name pattern, any of them negated with `!`.
 * @param address - the peer's IP address.
 * @param list - the pattern list.
 * @param host - the peer's host name; sshd uses the address when it does no DNS lookups
 * (`UseDNS no`, its default), and so do we.
 * @returns 1 allowed, 0 not listed, -1 refused (a negated entry matched, or the list has a
 * CIDR block with host bits set, which OpenSSH treats as an error).
 */
export function matchHostAndAddress(address: string, list: string, host?: string): -1 | 0 | 1 {
  const parsed = parseIp(address);
  if (parsed === undefined) return -1;
  const canonical = formatIp(parsed);
  let ip: -1 | 0 | 1 = 0;
  for (const raw of list.split(',')) {
    const negated = raw.startsWith('!');
    const entry = negated ? raw.slice(1) : raw;
    if (entry === '') continue;
    const block = parseCidr(entry);
    if (block === 'inconsistent') return -1;
    const hit =
      block !== undefined
        ? cidrContains(block, parsed)
        : matchPattern(canonical, entry.toLowerCase());
    if (hit) {
      if (negated) return -1;
      ip = 1;
    }
  }
  const name = matchPatternList(host ?? canonical, list);
  if (name === -1) return -1;
  return ip === 1 || name === 1 ? 1 : 0;
}
