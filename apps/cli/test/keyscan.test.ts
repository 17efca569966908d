import { readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import {
  type Authenticator,
  AuthorizedKeys,
  acceptConnection,
  anonymousAuth,
  loadIdentity,
  publicKeyAuth,
} from 'keyway-rpc';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { available, keyway, makeKey, sshKeygen, tempDir } from './helpers.js';

const hasSshKeygen = available('ssh-keygen', ['-?']);

let dir: string;
let cleanup: () => Promise<void>;
const p = (name: string) => join(dir, name);
const servers: Server[] = [];

/** A keyway endpoint on 127.0.0.1 that runs `authenticator` on each connection. */
async function listen(authenticator: Authenticator): Promise<number> {
  const server = createServer((socket) => {
    socket.on('error', () => {});
    acceptConnection(socket, authenticator, { remoteAddress: socket.remoteAddress ?? '' })
      .then((accepted) => accepted.transport.close())
      .catch(() => {});
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
  await makeKey(p('host'), 'host');
});
afterAll(async () => {
  for (const server of servers) server.close();
  await cleanup();
});

describe('keyway keyscan', () => {
  it('prints the known_hosts line of an anonymous-auth server, and the fingerprint on stderr', async () => {
    const identity = await loadIdentity(p('host'));
    const port = await listen(anonymousAuth({ identity }));
    const r = await keyway(['keyscan', `127.0.0.1:${port}`]);
    expect(r.code, r.stderr).toBe(0);
    const pub = (await readFile(p('host.pub'), 'utf8')).split(' ').slice(0, 2).join(' ');
    expect(r.stdout).toBe(`[127.0.0.1]:${port} ${pub}\n`);
    expect(r.stderr).toContain(identity.fingerprint);
  });

  it('reads the key of a public-key server that refuses the (anonymous) scanner', async () => {
    const identity = await loadIdentity(p('host'));
    const port = await listen(
      publicKeyAuth({ identity, authorizedKeys: AuthorizedKeys.parse('') }),
    );
    const r = await keyway(['keyscan', '--hash', `[127.0.0.1]:${port}`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^\|1\|\S+ ssh-ed25519 AAAA\S+\n$/);
    if (hasSshKeygen) {
      // The hashed line is found by ssh-keygen under the name we scanned.
      await writeFile(p('kh'), r.stdout);
      const found = await sshKeygen(['-F', `[127.0.0.1]:${port}`, '-f', p('kh')]);
      expect(found.code).toBe(0);
    }
  });

  it('its output is a known_hosts line keyway accepts', async () => {
    const identity = await loadIdentity(p('host'));
    const port = await listen(anonymousAuth({ identity }));
    const r = await keyway(['keyscan', `127.0.0.1:${port}`]);
    await writeFile(p('kh2'), r.stdout, { mode: 0o600 });
    const find = await keyway(['known-hosts', 'find', `127.0.0.1:${port}`, '--file', p('kh2')]);
    expect(find.code).toBe(0);
  });

  it('fails with exit 1 when nothing listens, or the peer is not keyway', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as { port: number }).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const refused = await keyway(['keyscan', `127.0.0.1:${port}`]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('connection refused');
    const talker = createServer((socket) => socket.end('SSH-2.0-OpenSSH_9.2\r\n'));
    servers.push(talker);
    await new Promise<void>((resolve) => talker.listen(0, '127.0.0.1', resolve));
    const other = await keyway([
      'keyscan',
      '--timeout',
      '3000',
      `127.0.0.1:${(talker.address() as { port: number }).port}`,
    ]);
    expect(other.code).toBe(1);
    expect(other.stderr).toContain('is not a keyway server: it sent an SSH banner');
  });

  it('a host without a port means 18861', async () => {
    const r = await keyway(['keyscan', '--timeout', '3000', '127.0.0.1']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('127.0.0.1:18861');
  });

  it('usage errors exit 2', async () => {
    for (const args of [['keyscan'], ['keyscan', 'h:0'], ['keyscan', '--timeout', 'soon', 'h']]) {
      expect((await keyway(args)).code, args.join(' ')).toBe(2);
    }
  });
});
