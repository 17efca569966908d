/** connect()'s `localAddress`: the client picks which of its addresses it connects from. */
import type { Remote } from '@keyway/core';
import { publicKeyAuth } from '@keyway/secure';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, ThreadedServer } from '../src/index.js';
import { alice, authorizedKeys, hostKey, knownHosts, Lab } from './helpers.js';

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

describe('connect() localAddress', () => {
  it('connects from the given loopback address', async () => {
    const server = new ThreadedServer(Lab, {
      authenticator: publicKeyAuth({ identity: hostKey, authorizedKeys: authorizedKeys(alice) }),
    });
    closers.push(() => server.close(0));
    const { port } = (await server.listen()) as { port: number };
    const conn = await connect('127.0.0.1', port, {
      identity: alice,
      knownHosts: knownHosts(port),
      localAddress: '127.0.0.5',
    });
    closers.push(() => conn.close());
    expect(await (conn.root as Remote<Lab>).whoami()).toMatchObject({ remoteAddress: '127.0.0.5' });
  });

  it('refuses a local address that is not an IP address, or on a Unix socket', async () => {
    await expect(
      connect('127.0.0.1', 1, { identity: alice, localAddress: 'localhost' }),
    ).rejects.toThrow(TypeError);
    await expect(
      connect('/tmp/x.sock', { identity: alice, localAddress: '127.0.0.5' }),
    ).rejects.toThrow(TypeError);
  });
});
