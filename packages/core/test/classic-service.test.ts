import { describe, expect, it } from 'vitest';
import { ClassicService } from '../src/classic-service.js';
import { connectTransport } from '../src/connection.js';
import { AccessDeniedError, KeywayError } from '../src/errors.js';
import { memoryTransportPair } from '../src/memory-transport.js';
import type { Remote } from '../src/remote.js';
import { connectionPair } from './helpers.js';

describe('classic mode', () => {
  it('is off unless enabled: import and eval are refused', async () => {
    const { client } = await connectionPair('memory', {
      service: ClassicService,
      credentials: { user: 'alice' },
    });
    const classic = client.root as Remote<ClassicService>;
    await expect(Promise.resolve(classic.eval('1 + 1'))).rejects.toBeInstanceOf(AccessDeniedError);
    await expect(Promise.resolve(classic.import('node:os'))).rejects.toBeInstanceOf(
      AccessDeniedError,
    );
  });

  it('when enabled for an authenticated connection: remote import and eval', async () => {
    const { client } = await connectionPair('memory', {
      service: new ClassicService({ enabled: true }),
      credentials: { user: 'alice' },
    });
    const classic = client.root as Remote<ClassicService>;
    expect(await classic.eval('6 * 7')).toBe(42);
    const path = (await classic.import('node:path')) as unknown as Remote<{
      join(...parts: string[]): string;
    }>;
    expect(await path.join('a', 'b')).toBe('a/b');
  });

  it('refuses an unauthenticated connection even when enabled', async () => {
    const [a, b] = memoryTransportPair();
    const server = connectTransport(a, { service: new ClassicService({ enabled: true }) });
    const client = connectTransport(b).catch((e: unknown) => e);
    await expect(server).rejects.toBeInstanceOf(KeywayError);
    await expect(server).rejects.toMatchObject({
      cause: expect.objectContaining({ code: 'ERR_ACCESS_DENIED' }),
    });
    // The client side either failed to connect or sees the connection close.
    const c = (await client) as Error | { closed: Promise<unknown> };
    if (!(c instanceof Error)) await c.closed;
  });

  it('refuses anonymous or address-only logins, which prove no identity', async () => {
    for (const methods of [['anonymous'], ['ip'], ['ip', 'anonymous']]) {
      const [a, b] = memoryTransportPair();
      const server = connectTransport(a, {
        service: new ClassicService({ enabled: true }),
        credentials: { methods, remoteAddress: '127.0.0.1' },
      });
      const client = connectTransport(b).catch((e: unknown) => e);
      await expect(server).rejects.toMatchObject({
        cause: expect.objectContaining({ code: 'ERR_ACCESS_DENIED' }),
      });
      const c = (await client) as Error | { closed: Promise<unknown> };
      if (!(c instanceof Error)) await c.closed;
    }
    const { client } = await connectionPair('memory', {
      service: new ClassicService({ enabled: true }),
      credentials: { methods: ['ip', 'publickey'], remoteAddress: '127.0.0.1' },
    });
    expect(await (client.root as Remote<ClassicService>).eval('2 + 2')).toBe(4);
  });
});
