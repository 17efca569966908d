import { describe, expect, it } from 'vitest';
import { type Connection, connectTransport } from '../src/connection.js';
import { ConnectionClosedError, ProtocolError } from '../src/errors.js';
import { memoryTransportPair } from '../src/memory-transport.js';
import type { Remote } from '../src/remote.js';
import { Service } from '../src/service.js';
import { connectionPair, TRANSPORTS, tick, waitFor } from './helpers.js';

class Calculator extends Service {
  static instances = 0;
  readonly id: number;
  constructor() {
    super();
    this.id = ++Calculator.instances;
  }
  add(a: number, b: number) {
    return a + b;
  }
  async slowAdd(a: number, b: number) {
    await new Promise((r) => setTimeout(r, 5));
    return a + b;
  }
  whoAmI() {
    return this.id;
  }
  hang() {
    return new Promise(() => {});
  }
}

for (const kind of TRANSPORTS) {
  describe(`connection over ${kind}`, () => {
    it('calls methods of the peer root and gets results', async () => {
      const { server, client } = await connectionPair(kind, { service: Calculator });
      const calc = client.root as Remote<Calculator>;
      expect(await calc.add(1, 2)).toBe(3);
      expect(await calc.slowAdd(20, 22)).toBe(42);
      const many = await Promise.all(Array.from({ length: 100 }, (_, i) => calc.add(i, i)));
      expect(many).toEqual(Array.from({ length: 100 }, (_, i) => 2 * i));
      expect(typeof (await client.ping())).toBe('number');
      await client.close();
      expect(await server.closed).toBeUndefined();
    });

    it('rejects every pending call at once when the connection closes, and later use fails', async () => {
      const { server, client } = await connectionPair(kind, { service: Calculator });
      const calc = client.root as Remote<Calculator>;
      const pending = [calc.hang(), calc.hang(), calc.hang()];
      await new Promise((r) => setTimeout(r, 10));
      await server.close();
      for (const p of pending)
        await expect(Promise.resolve(p)).rejects.toBeInstanceOf(ConnectionClosedError);
      await client.closed;
      await expect(Promise.resolve(calc.add(1, 1))).rejects.toBeInstanceOf(ConnectionClosedError);
      await expect(client.ping()).rejects.toBeInstanceOf(ConnectionClosedError);
    });
  });
}

describe('services', () => {
  it('a class gives one instance per connection, an instance is shared', async () => {
    const a = await connectionPair('memory', { service: Calculator });
    const b = await connectionPair('memory', { service: Calculator });
    const idA = await (a.client.root as Remote<Calculator>).whoAmI();
    const idB = await (b.client.root as Remote<Calculator>).whoAmI();
    expect(idA).not.toBe(idB);
    const shared = new Calculator();
    const c = await connectionPair('memory', { service: shared });
    const d = await connectionPair('memory', { service: shared });
    expect(await (c.client.root as Remote<Calculator>).whoAmI()).toBe(shared.id);
    expect(await (d.client.root as Remote<Calculator>).whoAmI()).toBe(shared.id);
    expect(c.server.service).toBe(d.server.service);
  });

  it('onConnect runs before the first request is answered, onDisconnect after close', async () => {
    const events: string[] = [];
    class Hooked extends Service {
      override async onConnect(conn: Connection) {
        events.push(`connect:${String(conn.credentials)}`);
        await new Promise((r) => setTimeout(r, 20));
        events.push('connect-done');
      }
      override onDisconnect() {
        events.push('disconnect');
      }
      hello() {
        events.push('hello');
        return 'hi';
      }
    }
    const [a, b] = memoryTransportPair();
    const serverP = connectTransport(a, { service: Hooked, credentials: 'alice' });
    const client = await connectTransport(b);
    // The client is connected while the server still runs onConnect; the call waits.
    expect(await (client.root as Remote<Hooked>).hello()).toBe('hi');
    const server = await serverP;
    expect(server.credentials).toBe('alice');
    expect(server.remoteAddress).toBe('memory:b');
    await client.close();
    await server.closed;
    expect(events).toEqual(['connect:alice', 'connect-done', 'hello', 'disconnect']);
  });

  it('the service hooks are never callable by the peer', async () => {
    class Hooked extends Service {
      override onConnect() {}
    }
    const { client } = await connectionPair('memory', { service: Hooked });
    const root = client.root as unknown as Record<string, () => Promise<unknown>>;
    await expect(Promise.resolve(root.onConnect!())).rejects.toMatchObject({
      code: 'ERR_ACCESS_DENIED',
    });
    await expect(Promise.resolve(root.onDisconnect!())).rejects.toMatchObject({
      code: 'ERR_ACCESS_DENIED',
    });
  });
});

describe('protocol version', () => {
  it('a mismatch is a clear ProtocolError on both sides', async () => {
    const { Packr } = await import('msgpackr');
    const [a, b] = memoryTransportPair();
    const received: unknown[] = [];
    let peerClose: Error | undefined;
    b.start({
      onMessage: (d) => received.push(new Packr({ mapsAsObjects: true }).unpack(d)),
      onClose: (e) => {
        peerClose = e;
      },
    });
    b.send(new Packr({ useRecords: false }).pack([0, 'keyway-rpc', 99]));
    const error = await connectTransport(a).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProtocolError);
    expect((error as ProtocolError).code).toBe('ERR_PROTOCOL_VERSION');
    expect((error as Error).message).toMatch(/this side speaks 1, the peer 99/);
    await new Promise((r) => setTimeout(r, 5));
    // The peer is told why before the transport closes.
    expect(received[0]).toEqual([0, 'keyway-rpc', 1]);
    expect(received[1]).toEqual([8, 'ERR_PROTOCOL_VERSION', expect.stringMatching(/mismatch/)]);
    expect(peerClose).toBeDefined();
  });

  it('the side that receives the abort fails with the same code', async () => {
    const { Packr } = await import('msgpackr');
    const [a, b] = memoryTransportPair();
    b.start({ onMessage: () => {}, onClose: () => {} });
    b.send(new Packr({ useRecords: false }).pack([8, 'ERR_PROTOCOL_VERSION', 'version 2 only']));
    const error = await connectTransport(a).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProtocolError);
    expect((error as ProtocolError).code).toBe('ERR_PROTOCOL_VERSION');
  });

  it('a peer that is not keyway is refused', async () => {
    const [a, b] = memoryTransportPair();
    b.start({ onMessage: () => {}, onClose: () => {} });
    b.send(new TextEncoder().encode('SSH-2.0-OpenSSH_9.6\r\n'));
    await expect(connectTransport(a)).rejects.toBeInstanceOf(ProtocolError);
  });
});

describe('per-call context', () => {
  it('currentCall() tells a method which connection (and so which credentials) called it', async () => {
    const { currentCall } = await import('../src/call-context.js');
    class Vault extends Service {
      whoCalls() {
        return String(currentCall().connection.credentials);
      }
    }
    const shared = new Vault();
    const alice = await connectionPair('memory', { service: shared, credentials: 'alice' });
    const bob = await connectionPair('memory', { service: shared, credentials: 'bob' });
    expect(await (alice.client.root as Remote<Vault>).whoCalls()).toBe('alice');
    expect(await (bob.client.root as Remote<Vault>).whoCalls()).toBe('bob');
    expect(() => currentCall()).toThrow(/outside an incoming call/);
  });
});

describe('onClose', () => {
  it('is called once, after onDisconnect, with what closed settles with', async () => {
    const events: string[] = [];
    class Hooked extends Service {
      override onDisconnect() {
        events.push('disconnect');
      }
    }
    const calls: [Connection, Error | undefined][] = [];
    const onClose = (connection: Connection, error: Error | undefined) => {
      events.push('onClose');
      calls.push([connection, error]);
    };
    const { server, client } = await connectionPair(
      'memory',
      { service: Hooked, onClose },
      { onClose },
    );
    await client.close();
    await waitFor(() => calls.length === 2);
    expect(events).toEqual(['onClose', 'disconnect', 'onClose']);
    expect(calls.map(([c]) => c)).toEqual([client, server]);
    expect(calls.every(([, error]) => error === undefined)).toBe(true);
    // `closed`, asked for only now, settles at once with the same.
    expect(await server.closed).toBeUndefined();
    await client.close();
    await tick();
    expect(calls).toHaveLength(2);
  });

  it('gets the error of a connection that failed, as closed does', async () => {
    const seen: (Error | undefined)[] = [];
    const [a, b] = memoryTransportPair();
    const [server] = await Promise.all([
      connectTransport(a, { onClose: (_, error) => seen.push(error) }),
      connectTransport(b),
    ]);
    const closedBefore = server.closed;
    // The peer's transport fails: the server side sees the transport's error.
    b.close(new ProtocolError('gone'));
    await waitFor(() => seen.length === 1);
    expect(seen[0]).toBeInstanceOf(Error);
    expect(await closedBefore).toBe(seen[0]);
    expect(await server.closed).toBe(seen[0]);
  });

  it('is not called for a connection that never opened', async () => {
    let called = 0;
    class Refusing extends Service {
      override onConnect(): void {
        throw new Error('no');
      }
    }
    const [a, b] = memoryTransportPair();
    const opening = connectTransport(a, { service: Refusing, onClose: () => called++ });
    await Promise.allSettled([opening, connectTransport(b)]);
    await expect(opening).rejects.toMatchObject({ code: 'ERR_ON_CONNECT' });
    await tick();
    await tick();
    expect(called).toBe(0);
  });

  it('refuses what is not a function, before anything opens', async () => {
    const [a] = memoryTransportPair();
    await expect(
      connectTransport(a, { onClose: 'yes' as unknown as () => void }),
    ).rejects.toBeInstanceOf(TypeError);
  });

  it('rethrows what it throws on its own, and the close still completes', async () => {
    const thrown = new Error('watcher failed');
    const caught: unknown[] = [];
    const original = globalThis.queueMicrotask;
    const { server, client } = await connectionPair('memory', {
      onClose: () => {
        throw thrown;
      },
    });
    // Microtasks run as usual; only the rethrown error is caught here, not by the runner.
    globalThis.queueMicrotask = (callback) =>
      original(() => {
        try {
          callback();
        } catch (error) {
          if (error !== thrown) throw error;
          caught.push(error);
        }
      });
    try {
      await client.close();
      await waitFor(() => caught.length > 0);
      await tick();
    } finally {
      globalThis.queueMicrotask = original;
    }
    expect(await server.closed).toBeUndefined();
    expect(server.isClosed).toBe(true);
    expect(caught).toEqual([thrown]);
  });
});
