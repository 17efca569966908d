/**
 * `keyway shell` as a user meets it, through the real binary: errors never lock the
 * shell up, Ctrl-C cancels a pending call (the server's `currentCall().signal` fires) and
 * two on an empty line leave, a password is asked only once the host key is checked and
 * the terminal keeps working after it, encrypted identities open, and every refusal says
 * what to do on the command line.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import {
  AuthorizedKeys,
  currentCall,
  generateIdentity,
  KnownHosts,
  opaqueServerFor,
  PasswordFile,
  passwordAuth,
  publicKeyAuth,
  Service,
  ThreadedServer,
} from 'keyway-rpc';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { keyway, keywayPty, tempDir } from './helpers.js';

/** What the servers saw, in order. */
const events: string[] = [];

class Lab extends Service {
  add(a: number, b: number): number {
    return a + b;
  }
  boom(): never {
    throw new RangeError('too big');
  }
  /** Waits until the caller cancels it. */
  wait(): Promise<string> {
    const { signal } = currentCall();
    events.push('wait started');
    return new Promise((resolve) => {
      signal.addEventListener(
        'abort',
        () => {
          events.push('wait aborted');
          resolve('aborted');
        },
        { once: true },
      );
    });
  }
  _secret(): string {
    return 'never';
  }
}

const hostKey = generateIdentity('shell-host');
const me = generateIdentity('me@laptop');
const PASSPHRASE = 'open sesame';
let keyServer: ThreadedServer;
let keyPort: number;
let passwordServer: ThreadedServer;
let passwordPort: number;
const strangers: (Server | ReturnType<typeof createHttpServer>)[] = [];
const strangerSockets = new Set<Socket>();
let home: string;
let cleanup: () => Promise<void>;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  keyServer = new ThreadedServer(Lab, {
    authenticator: publicKeyAuth({
      identity: hostKey,
      authorizedKeys: AuthorizedKeys.parse(me.publicKeyLine()),
    }),
    connection: { includeRemoteStack: true },
  });
  keyPort = ((await keyServer.listen()) as { port: number }).port;
  const passwords = new PasswordFile();
  await passwords.register(opaqueServerFor(hostKey), 'alice', 'pw');
  passwordServer = new ThreadedServer(Lab, {
    authenticator: passwordAuth({ identity: hostKey, passwords }),
  });
  passwordPort = ((await passwordServer.listen()) as { port: number }).port;
});

afterAll(async () => {
  await keyServer.close(0);
  await passwordServer.close(0);
  for (const s of strangerSockets) s.destroy();
  for (const s of strangers) s.close();
  for (const c of cleanups) await c();
});

/** A fresh HOME whose ~/.keyway holds `me`'s key (encrypted when asked) and known_hosts. */
beforeEach(async () => {
  ({ dir: home, cleanup } = await tempDir());
  cleanups.push(cleanup);
  events.length = 0;
  await mkdir(join(home, '.keyway'), { mode: 0o700 });
  await writeFile(join(home, '.keyway', 'id_ed25519'), me.toOpenSSH().privateKey, {
    mode: 0o600,
  });
  const known = KnownHosts.parse('');
  known.add('127.0.0.1', keyPort, hostKey.publicKey);
  await writeFile(join(home, '.keyway', 'known_hosts'), known.toString(), { mode: 0o600 });
});

/** Lines the shell printed after each prompt (piped input shows no echo). */
function answers(stdout: string): string[] {
  return stdout
    .split('keyway> ')
    .slice(1)
    .map((s) => s.trim());
}

describe('keyway shell: errors never lock it up', () => {
  it('prints a remote RangeError (with the remote stack), a local ReferenceError and a denial, then carries on (piped)', async () => {
    const r = await keyway(['shell', `127.0.0.1:${keyPort}`], {
      home,
      input: 'root.boom()\nfoo\nroot._secret()\nroot.add(1, 1)\n.exit\n',
    });
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const out = answers(r.stdout);
    expect(out[0]).toMatch(/^Uncaught RangeError: too big\n\s+at .*boom/);
    expect(out[1]).toMatch(/^Uncaught ReferenceError: foo is not defined/);
    expect(out[2]).toBe('Uncaught AccessDeniedError: call "_secret" denied: name is never exposed');
    expect(out[3]).toBe('2');
    // Never keyway's own frames, nor the REPL's.
    expect(r.stdout).not.toMatch(
      /errorFromWire|session\.js|serving\.js|shell\.js|node:repl|node:vm/,
    );
  });

  it('in a terminal too: later input runs and .exit leaves', async () => {
    const r = await keywayPty(
      ['shell', `127.0.0.1:${keyPort}`],
      [
        { expect: 'keyway> ' },
        { send: 'root.boom()\r' },
        { expect: 'too big' },
        { expect: 'keyway> ' },
        { send: 'foo\r' },
        { expect: 'foo is not defined' },
        { expect: 'keyway> ' },
        { send: 'root._secret()\r' },
        { expect: 'AccessDeniedError' },
        { expect: 'keyway> ' },
        { send: 'root.add(40, 2)\r' },
        { expect: '42' },
        { expect: 'keyway> ' },
        { send: '.exit\r' },
      ],
      { home },
    );
    expect(r.code, r.stdout).toBe(0);
  });
});

describe('keyway shell: Ctrl-C and --timeout', () => {
  it('Ctrl-C cancels a pending call (the server sees its signal fire) and returns to the prompt; two on an empty line leave', async () => {
    const r = await keywayPty(
      ['shell', `127.0.0.1:${keyPort}`],
      [
        { expect: 'keyway> ' },
        { send: 'await root.wait()\r' },
        { sleep: 2 },
        { send: '\u0003' },
        { expect: 'cancelled' },
        { expect: 'keyway> ' },
        { send: 'root.add(2, 3)\r' },
        { expect: '5' },
        { expect: 'keyway> ' },
        { send: '\u0003' },
        { expect: 'press Ctrl+C again' },
        { send: '\u0003' },
      ],
      { home },
    );
    expect(r.code, r.stdout).toBe(0);
    expect(events).toEqual(['wait started', 'wait aborted']);
  });

  it('Ctrl-C also returns from a call without `await`', async () => {
    const r = await keywayPty(
      ['shell', `127.0.0.1:${keyPort}`],
      [
        { expect: 'keyway> ' },
        { send: 'root.wait()\r' },
        { sleep: 2 },
        { send: '\u0003' },
        { expect: 'cancelled' },
        { expect: 'keyway> ' },
        { send: '.exit\r' },
      ],
      { home },
    );
    expect(r.code, r.stdout).toBe(0);
    expect(events).toEqual(['wait started', 'wait aborted']);
  });

  it('--timeout SECONDS fails a call that takes longer, and the shell carries on', async () => {
    const r = await keyway(['shell', `127.0.0.1:${keyPort}`, '--timeout', '1'], {
      home,
      input: 'await root.wait()\nroot.add(1, 2)\n.exit\n',
    });
    expect(r.code, r.stderr).toBe(0);
    const out = answers(r.stdout);
    expect(out[0]).toMatch(/^Uncaught TimeoutError: /);
    expect(out[1]).toBe('3');
    expect(events).toEqual(['wait started', 'wait aborted']);
    const bad = await keyway(['shell', `127.0.0.1:${keyPort}`, '--timeout', 'soon'], { home });
    expect(bad.code).toBe(2);
  });
});

describe('keyway shell: password login', () => {
  it('checks (and records, with --accept-new) the host key before asking; the terminal works after', async () => {
    const r = await keywayPty(
      ['shell', `127.0.0.1:${passwordPort}`, '-l', 'alice', '--accept-new'],
      [
        { expect: "alice@127.0.0.1's password: " },
        { send: 'pw\r' },
        { expect: 'keyway> ' },
        { send: 'root.add(20, 22)\r' },
        { expect: '42' },
        { expect: 'keyway> ' },
        { send: '\u0003' },
        { expect: 'press Ctrl+C again' },
        { send: '\u0003' },
      ],
      { home },
    );
    expect(r.code, r.stdout).toBe(0);
    const added = r.stdout.indexOf(
      `Permanently added '[127.0.0.1]:${passwordPort}' (ED25519 ${hostKey.fingerprint}) to known_hosts`,
    );
    expect(added, r.stdout).toBeGreaterThan(-1);
    expect(added).toBeLessThan(r.stdout.indexOf('password: '));
    expect(r.stdout).not.toContain('pw\r');
    const known = KnownHosts.parse(await readFile(join(home, '.keyway', 'known_hosts'), 'utf8'));
    expect(known.check('127.0.0.1', passwordPort, hostKey.publicKey).status).toBe('match');
  });

  it('a server that gave up while the user typed gets the typed password on a new connection', async () => {
    const passwords = new PasswordFile();
    await passwords.register(opaqueServerFor(hostKey), 'alice', 'pw');
    const impatient = new ThreadedServer(Lab, {
      authenticator: passwordAuth({ identity: hostKey, passwords }),
      handshakeTimeoutMs: 3000,
    });
    const port = ((await impatient.listen()) as { port: number }).port;
    try {
      const known = KnownHosts.parse('');
      known.add('127.0.0.1', port, hostKey.publicKey);
      await writeFile(join(home, '.keyway', 'known_hosts'), known.toString(), { mode: 0o600 });
      const r = await keywayPty(
        ['shell', `127.0.0.1:${port}`, '-l', 'alice'],
        [
          { expect: "alice@127.0.0.1's password: " },
          { sleep: 5 },
          { send: 'pw\r' },
          { expect: 'keyway> ' },
          { send: 'root.add(1, 2)\r' },
          { expect: '3' },
          { send: '.exit\r' },
        ],
        { home },
      );
      expect(r.code, r.stdout).toBe(0);
      // Asked once: the second connection uses what was typed.
      expect(r.stdout.split('password: ')).toHaveLength(2);
    } finally {
      await impatient.close(0);
    }
  });

  it('never asks for a password for an unknown host, and says how to trust it', async () => {
    const r = await keywayPty(
      ['shell', `127.0.0.1:${passwordPort}`, '-l', 'alice'],
      [{ expect: 'known_hosts' }],
      { home },
    );
    expect(r.code, r.stdout).toBe(1);
    expect(r.stdout).not.toContain('password:');
    expect(r.stdout).toContain('--accept-new');
    expect(r.stdout).toContain(`keyway keyscan 127.0.0.1:${passwordPort} >>`);
    expect(r.stdout).not.toMatch(/hostKeyPolicy|knownHosts/);
  });

  it('takes the password from KEYWAY_PASSWORD without a terminal', async () => {
    const known = KnownHosts.parse('');
    known.add('127.0.0.1', passwordPort, hostKey.publicKey);
    await writeFile(join(home, '.keyway', 'known_hosts'), known.toString(), { mode: 0o600 });
    const r = await keyway(['shell', `127.0.0.1:${passwordPort}`, '-l', 'alice'], {
      home,
      input: 'root.add(1, 1)\n.exit\n',
      env: { KEYWAY_PASSWORD: 'pw' },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(answers(r.stdout)[0]).toBe('2');
  });
});

describe('keyway shell: encrypted identities', () => {
  beforeEach(async () => {
    await writeFile(
      join(home, '.keyway', 'id_ed25519'),
      me.toOpenSSH({ passphrase: PASSPHRASE }).privateKey,
      { mode: 0o600 },
    );
  });

  it('opens with -P, with KEYWAY_PASSPHRASE, and says what to do without either', async () => {
    const withFlag = await keyway(['shell', `127.0.0.1:${keyPort}`, '-P', PASSPHRASE], {
      home,
      input: 'root.add(1, 1)\n.exit\n',
    });
    expect(withFlag.code, withFlag.stderr).toBe(0);
    expect(answers(withFlag.stdout)[0]).toBe('2');
    const fromEnv = await keyway(['shell', `127.0.0.1:${keyPort}`], {
      home,
      input: 'root.add(2, 2)\n.exit\n',
      env: { KEYWAY_PASSPHRASE: PASSPHRASE },
    });
    expect(fromEnv.code, fromEnv.stderr).toBe(0);
    expect(answers(fromEnv.stdout)[0]).toBe('4');
    const neither = await keyway(['shell', `127.0.0.1:${keyPort}`], { home });
    expect(neither.code).toBe(1);
    expect(neither.stderr).toContain('encrypted');
    expect(neither.stderr).toContain('-P');
    expect(neither.stderr).toContain('KEYWAY_PASSPHRASE');
  });

  it('asks for the passphrase on a terminal, and the terminal works after', async () => {
    const r = await keywayPty(
      ['shell', `127.0.0.1:${keyPort}`],
      [
        { expect: 'Enter passphrase for ' },
        { send: `${PASSPHRASE}\r` },
        { expect: 'keyway> ' },
        { send: 'root.add(3, 4)\r' },
        { expect: '7' },
        { send: '.exit\r' },
      ],
      { home },
    );
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).not.toContain(PASSPHRASE);
  });
});

describe('keyway shell: refusals that say what to do', () => {
  it('an unknown host: --accept-new or keyscan, never API option names', async () => {
    await writeFile(join(home, '.keyway', 'known_hosts'), '', { mode: 0o600 });
    const r = await keyway(['shell', `127.0.0.1:${keyPort}`], { home });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(hostKey.fingerprint);
    expect(r.stderr).toContain(`keyway shell 127.0.0.1:${keyPort} --accept-new`);
    expect(r.stderr).toContain(`keyway keyscan 127.0.0.1:${keyPort} >> `);
    expect(r.stderr).not.toMatch(/hostKeyPolicy|knownHosts|'accept-new'/);
  });

  it('--accept-new records the key, says so as ssh does, and creates the known_hosts directory', async () => {
    const file = join(home, 'new', 'dir', 'known_hosts');
    const r = await keyway(
      ['shell', `127.0.0.1:${keyPort}`, '--accept-new', '--known-hosts', file],
      { home, input: 'root.add(1, 1)\n.exit\n' },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(
      `Warning: Permanently added '[127.0.0.1]:${keyPort}' (ED25519 ${hostKey.fingerprint}) to known_hosts (${file}).`,
    );
    const known = KnownHosts.parse(await readFile(file, 'utf8'));
    expect(known.check('127.0.0.1', keyPort, hostKey.publicKey).status).toBe('match');
  });

  it('a refused login names the key offered, or says none was', async () => {
    const other = generateIdentity('other@laptop');
    await writeFile(join(home, 'other'), other.toOpenSSH().privateKey, { mode: 0o600 });
    const offered = await keyway(['shell', `127.0.0.1:${keyPort}`, '-i', join(home, 'other')], {
      home,
    });
    expect(offered.code).toBe(1);
    expect(offered.stderr).toContain('refused');
    expect(offered.stderr).toContain(other.fingerprint);
    expect(offered.stderr).toContain(join(home, 'other'));
    const { rm } = await import('node:fs/promises');
    await rm(join(home, '.keyway', 'id_ed25519'));
    const none = await keyway(['shell', `127.0.0.1:${keyPort}`], { home });
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('no key was offered');
  });

  it('-i with a missing file says the key file is missing', async () => {
    const r = await keyway(['shell', `127.0.0.1:${keyPort}`, '-i', '/nope'], { home });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('/nope');
    expect(r.stderr).toMatch(/key file .*missing|no such key file/);
  });

  it('an SSH or HTTP port is "not a keyway server", at once', async () => {
    const ssh = createServer((socket) => {
      strangerSockets.add(socket);
      socket.on('error', () => {});
      socket.write('SSH-2.0-OpenSSH_9.2\r\n');
    });
    const http = createHttpServer((_req, res) => res.end('hi'));
    http.on('connection', (socket: Socket) => strangerSockets.add(socket));
    for (const server of [ssh, http]) {
      strangers.push(server);
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const port = (server.address() as { port: number }).port;
      const started = Date.now();
      const r = await keyway(['shell', `127.0.0.1:${port}`], { home });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`127.0.0.1:${port} is not a keyway server`);
      // Well under the 10 s connect timeout, even on a loaded machine.
      expect(Date.now() - started).toBeLessThan(8000);
    }
  });

  it('`keyway shell HOST` uses port 18861', async () => {
    const r = await keyway(['shell', '127.0.0.1'], { home });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('127.0.0.1:18861');
  });
});
