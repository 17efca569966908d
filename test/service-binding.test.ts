/**
 * The served service is signed into the handshake, end to end (docs/security.md,
 * "Authentication"): `connect({ expectedService })` reaches a ThreadedServer of that
 * service, and is refused with ServiceMismatchError by another server sharing the host
 * key, before the client's key is sent.
 */
import {
  AuthorizedKeys,
  anonymousAuth,
  connect,
  generateIdentity,
  KnownHosts,
  publicKeyAuth,
  type Remote,
  Service,
  ServiceMismatchError,
  ThreadedServer,
} from 'keyway-rpc';
import { afterEach, describe, expect, it } from 'vitest';

const hostKey = generateIdentity('shared host key');
const alice = generateIdentity('alice');

class Calc extends Service {
  add(a: number, b: number) {
    return a + b;
  }
}
class Admin extends Service {
  shutdown() {
    return 'bye';
  }
}

const servers: ThreadedServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

async function serve(service: typeof Calc | typeof Admin, serviceName?: string): Promise<number> {
  const server = new ThreadedServer(service, {
    authenticator: publicKeyAuth({
      identity: hostKey,
      authorizedKeys: AuthorizedKeys.parse(alice.publicKeyLine()),
    }),
    ...(serviceName !== undefined && { serviceName }),
  });
  servers.push(server);
  return ((await server.listen()) as { port: number }).port;
}

function known(...ports: number[]): KnownHosts {
  const k = KnownHosts.parse('');
  for (const port of ports) k.add('127.0.0.1', port, hostKey.publicKey);
  return k;
}

describe('connect({ expectedService })', () => {
  it('reaches the service it names, by class name or by serviceName', async () => {
    const calc = await serve(Calc);
    const conn = await connect('127.0.0.1', calc, {
      identity: alice,
      knownHosts: known(calc),
      expectedService: 'Calc',
    });
    expect(await (conn.root as Remote<Calc>).add(1, 2)).toBe(3);
    await conn.close();
    const named = await serve(Calc, 'calculator');
    const again = await connect('127.0.0.1', named, {
      identity: alice,
      knownHosts: known(named),
      expectedService: 'calculator',
    });
    await again.close();
  });

  it('is refused by another service that shares the host key', async () => {
    const calc = await serve(Calc);
    const admin = await serve(Admin);
    const attempt = connect('127.0.0.1', admin, {
      identity: alice,
      knownHosts: known(calc, admin),
      expectedService: 'Calc',
    });
    await expect(attempt).rejects.toThrow(ServiceMismatchError);
    await expect(attempt).rejects.toMatchObject({
      code: 'ERR_SERVICE_MISMATCH',
      expected: 'Calc',
      actual: 'Admin',
    });
  });

  it('without it, any service is reached, as before', async () => {
    const server = new ThreadedServer(Admin, {
      authenticator: anonymousAuth({ identity: hostKey }),
    });
    servers.push(server);
    const { port } = (await server.listen()) as { port: number };
    const conn = await connect('127.0.0.1', port, { knownHosts: known(port) });
    expect(await (conn.root as Remote<Admin>).shutdown()).toBe('bye');
    await conn.close();
  });
});
