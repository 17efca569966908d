import { describe, expect, it } from 'vitest';
import { parseOptions, UsageError } from '../src/args.js';
import { parseHostPort } from '../src/hosts.js';
import { fingerprintLine, scanKeyLines } from '../src/keys.js';

describe('parseHostPort', () => {
  it.each([
    ['db.example', { host: 'db.example', port: 22 }],
    ['db.example:18861', { host: 'db.example', port: 18861 }],
    ['[db.example]:18861', { host: 'db.example', port: 18861 }],
    ['[::1]:2222', { host: '::1', port: 2222 }],
    ['[fe80::1]', { host: 'fe80::1', port: 22 }],
    ['2001:db8::7', { host: '2001:db8::7', port: 22 }],
    ['10.0.0.1:1', { host: '10.0.0.1', port: 1 }],
  ])('%s', (text, expected) => {
    expect(parseHostPort(text, 22)).toEqual(expected);
  });

  it.each([
    'host:0',
    'host:65536',
    'host:',
    'host:12a',
    ':22',
    '[::1',
    '[::1]22',
    '[]:22',
    'a,b',
    'a b',
  ])('refuses %j with a UsageError', (text) => {
    expect(() => parseHostPort(text, 22)).toThrow(UsageError);
  });
});

describe('parseOptions', () => {
  const table = { file: { type: 'string', short: 'f' }, force: { type: 'boolean' } } as const;

  it('reads short and long options and positionals, with - as a positional', () => {
    const parsed = parseOptions(['-f', 'x', '--force', '-'], table, [1, 1]);
    expect(parsed.values).toMatchObject({ file: 'x', force: true });
    expect(parsed.positionals).toEqual(['-']);
  });

  it.each([[['--nope']], [['-z']], [['-f']], [['--force=yes']], [['a', 'b']], [[]]])(
    'refuses %j',
    (args) => {
      expect(() => parseOptions(args, table, [1, 1])).toThrow(UsageError);
    },
  );
});

describe('scanKeyLines', () => {
  const ed = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGp2t2AcubIR2OfgQ/iiBUY+eb9MUaS+WYeKg0pRJXZs';
  const fp = 'SHA256:vLVHurI01bltz8q2/qfRKg06joKEcTJYWxToz0geWLU';

  it('shows the skipped field as the comment when the key has none, as ssh-keygen -l does', () => {
    const keys = scanKeyLines(`h1,h2 ${ed}\nfrom="a b",restrict ${ed} me\n@revoked x ${ed}\n# c\n`);
    expect(keys.map((k) => fingerprintLine(k))).toEqual([
      `256 ${fp} h1,h2 (ED25519)`,
      `256 ${fp} me (ED25519)`,
    ]);
    expect(keys.map((k) => k.line)).toEqual([1, 2]);
  });

  it('skips lines whose key does not decode', () => {
    expect(scanKeyLines('ssh-ed25519 AAAA\nssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIGp2\nx y z\n')).toEqual(
      [],
    );
  });
});
