/**
 * Classic mode and restricted logins: credentials carrying `restricted` (what keyway's
 * secure layer sets for an authorized_keys `restrict` key) never reach remote eval or
 * import, while an ordinary service still serves them.
 */
import { describe, expect, it } from 'vitest';
import { ClassicService } from '../src/classic-service.js';
import { connectTransport } from '../src/connection.js';
import { currentCall, Service } from '../src/index.js';
import { memoryTransportPair } from '../src/memory-transport.js';
import type { Remote } from '../src/remote.js';
import { connectionPair } from './helpers.js';

/** Connects a client to `service` with `credentials` and expects the server to refuse. */
async function expectRefused(service: ClassicService, credentials: unknown): Promise<void> {
  const [a, b] = memoryTransportPair();
  const server = connectTransport(a, { service, credentials });
  const client = connectTransport(b).catch((e: unknown) => e);
  await expect(server).rejects.toMatchObject({
    code: 'ERR_ON_CONNECT',
    cause: expect.objectContaining({ code: 'ERR_ACCESS_DENIED', message: expect.any(String) }),
  });
  const c = (await client) as Error | { closed: Promise<unknown> };
  if (!(c instanceof Error)) await c.closed.catch(() => {});
}

const keyLogin = { methods: ['publickey'], remoteAddress: '127.0.0.1' };

class Echo extends Service {
  echo(text: string) {
    return text;
  }
  restricted() {
    return (currentCall().connection.credentials as { restricted?: boolean }).restricted;
  }
}

describe('classic mode refuses restricted logins', () => {
  it('refuses a key login marked restricted, as it refuses an anonymous one', async () => {
    await expectRefused(new ClassicService({ enabled: true }), { ...keyLogin, restricted: true });
    await expectRefused(new ClassicService({ enabled: true }), {
      methods: ['ip', 'publickey', 'password'],
      user: 'alice',
      remoteAddress: '127.0.0.1',
      restricted: true,
    });
  });

  it('refuses a restricted login even when unauthenticated peers are allowed', async () => {
    const service = new ClassicService({ enabled: true, allowUnauthenticated: true });
    await expectRefused(service, { ...keyLogin, restricted: true });
    await expectRefused(service, { methods: ['anonymous'], remoteAddress: 'x', restricted: true });
    // The same service still serves an anonymous login that is not restricted.
    const { client } = await connectionPair('memory', {
      service,
      credentials: { methods: ['anonymous'], remoteAddress: 'x' },
    });
    expect(await (client.root as Remote<ClassicService>).eval('1 + 2')).toBe(3);
  });

  it('fails closed on a malformed restricted value from another server layer', async () => {
    for (const restricted of ['yes', 1, null, {}]) {
      await expectRefused(new ClassicService({ enabled: true }), { user: 'alice', restricted });
    }
  });

  it('serves the same key unrestricted (restricted false or absent)', async () => {
    for (const credentials of [{ ...keyLogin, restricted: false }, keyLogin]) {
      const { client, server } = await connectionPair('memory', {
        service: new ClassicService({ enabled: true }),
        credentials,
      });
      expect(await (client.root as Remote<ClassicService>).eval('6 * 7')).toBe(42);
      await client.close();
      await server.closed.catch(() => {});
    }
  });

  it('an ordinary service serves a restricted login and sees the flag', async () => {
    const { client } = await connectionPair('memory', {
      service: Echo,
      credentials: { ...keyLogin, restricted: true },
    });
    const echo = client.root as Remote<Echo>;
    expect(await echo.echo('hi')).toBe('hi');
    expect(await echo.restricted()).toBe(true);
  });
});
