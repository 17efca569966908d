import { describe, expect, it } from 'vitest';
import { ClassicService } from '../src/classic-service.js';
import { connectTransport } from '../src/connection.js';
import { AccessDeniedError, KeywayError } from '../src/errors.js';
import { memoryTransportPair } from '../src/memory-transport.js';
import type { Remote } from '../src/remote.js';
import { Service } from '../src/service.js';
import { connectionPair, transportPair } from './helpers.js';

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

/** A plain service that hands out an enabled classic service by reference. */
class Lobby extends Service {
  readonly classic: ClassicService;
  constructor(classic = new ClassicService({ enabled: true })) {
    super();
    this.classic = classic;
  }
  getClassic() {
    return this.classic;
  }
  /** Calls `fn(arg)` later, outside the incoming call that passed it. */
  later(fn: (arg: unknown) => unknown, arg: unknown) {
    return new Promise((resolve, reject) => {
      setTimeout(() => {
        Promise.resolve()
          .then(() => fn(arg))
          .then(resolve, reject);
      }, 0);
    });
  }
}

const keyLogin = { methods: ['publickey'], remoteAddress: '127.0.0.1' };

async function refused(attempt: unknown): Promise<void> {
  await expect(Promise.resolve(attempt)).rejects.toBeInstanceOf(AccessDeniedError);
}

describe('regression: classic mode is checked on every operation, per calling connection', () => {
  it('a ClassicService returned by a method refuses import and eval to an anonymous peer', async () => {
    for (const credentials of [undefined, { methods: ['anonymous'], remoteAddress: 'x' }]) {
      const { client } = await connectionPair('memory', { service: Lobby, credentials });
      const lobby = client.root as Remote<Lobby>;
      const classic = await lobby.getClassic();
      await refused(classic.eval('1 + 1'));
      await refused(classic.import('node:os'));
      // Pipelined, without awaiting the reference first.
      await refused(lobby.getClassic().eval('1 + 1'));
      await client.close();
    }
  });

  it('the same reference works for an authenticated connection', async () => {
    const { client } = await connectionPair('memory', { service: Lobby, credentials: keyLogin });
    const classic = await (client.root as Remote<Lobby>).getClassic();
    expect(await classic.eval('6 * 7')).toBe(42);
    const path = (await classic.import('node:path')) as unknown as Remote<{
      join(...parts: string[]): string;
    }>;
    expect(await path.join('a', 'b')).toBe('a/b');
  });

  it('a restricted login is refused, even with allowUnauthenticated', async () => {
    const open = new ClassicService({ enabled: true, allowUnauthenticated: true });
    for (const service of [new Lobby(), new Lobby(open)]) {
      const { client } = await connectionPair('memory', {
        service,
        credentials: { ...keyLogin, restricted: true },
      });
      const classic = await (client.root as Remote<Lobby>).getClassic();
      await refused(classic.eval('1'));
      await refused(classic.import('node:os'));
      await client.close();
    }
    // allowUnauthenticated serves the anonymous peer through a reference too.
    const { client } = await connectionPair('memory', { service: new Lobby(open) });
    expect(await (await (client.root as Remote<Lobby>).getClassic()).eval('2 + 2')).toBe(4);
  });

  it('one shared instance: served to the key login, refused to the anonymous peer', async () => {
    const shared = new Lobby();
    const trusted = await connectionPair('memory', { service: shared, credentials: keyLogin });
    const anonymous = await connectionPair('memory', { service: shared });
    const forTrusted = await (trusted.client.root as Remote<Lobby>).getClassic();
    const forAnonymous = await (anonymous.client.root as Remote<Lobby>).getClassic();
    expect(await forTrusted.eval('1 + 2')).toBe(3);
    await refused(forAnonymous.eval('1 + 2'));
    expect(await forTrusted.eval('3 + 4')).toBe(7);
  });

  it('eval handed back and run outside any incoming call is refused', async () => {
    const { client } = await connectionPair('memory', { service: Lobby, credentials: keyLogin });
    const lobby = client.root as Remote<Lobby>;
    const classic = await lobby.getClassic();
    // The path comes home as the owner's bound eval; the owner runs it from a timer.
    await refused(lobby.later(classic.eval as unknown as (a: unknown) => unknown, '1 + 1'));
  });

  it('the owner cannot be made to run it locally either: no incoming call, no classic mode', async () => {
    await refused(new ClassicService({ enabled: true }).eval('1'));
  });
});

describe('regression: a refused classic login tells the client why', () => {
  it('the client sees ERR_ACCESS_DENIED and the reason; the server keeps the cause', async () => {
    for (const kind of ['memory', 'tcp'] as const) {
      await refusedRootLogin(kind);
    }
  });

  async function refusedRootLogin(kind: 'memory' | 'tcp'): Promise<void> {
    const [a, b] = await transportPair(kind);
    const server = connectTransport(a, { service: new ClassicService({ enabled: true }) });
    const client = connectTransport(b);
    await expect(server).rejects.toMatchObject({
      code: 'ERR_ON_CONNECT',
      cause: expect.objectContaining({
        code: 'ERR_ACCESS_DENIED',
        message: 'classic mode needs an authenticated connection',
      }),
    });
    const reason = await (await client).closed;
    expect(reason, kind).toMatchObject({
      code: 'ERR_ACCESS_DENIED',
      message: expect.stringContaining('classic mode needs an authenticated connection'),
    });
  }

  it('a restricted login reads its own reason', async () => {
    const [a, b] = memoryTransportPair();
    const server = connectTransport(a, {
      service: new ClassicService({ enabled: true }),
      credentials: { ...keyLogin, restricted: true },
    });
    const client = connectTransport(b);
    await server.catch(() => {});
    expect(await (await client).closed).toMatchObject({
      code: 'ERR_ACCESS_DENIED',
      message: expect.stringContaining('restricted login'),
    });
  });

  it('any other onConnect failure reaches the client as ERR_ON_CONNECT, without its text', async () => {
    class Fragile extends Service {
      override onConnect(): void {
        throw new Error('database password hunter2 rejected');
      }
    }
    const [a, b] = memoryTransportPair();
    const server = connectTransport(a, { service: Fragile });
    const client = connectTransport(b);
    await expect(server).rejects.toMatchObject({
      code: 'ERR_ON_CONNECT',
      cause: expect.objectContaining({ message: 'database password hunter2 rejected' }),
    });
    const reason = (await (await client).closed) as Error;
    expect(reason).toMatchObject({ code: 'ERR_ON_CONNECT' });
    expect(reason.message).not.toMatch(/hunter2/);
  });
});
