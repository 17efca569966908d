import { describe, expect, it } from 'vitest';
import { release } from '../src/connection.js';
import type { Remote } from '../src/remote.js';
import { Service } from '../src/service.js';
import { connectionPair, waitFor } from './helpers.js';

const gc = (globalThis as { gc?: () => void }).gc;

class Thing {
  #n = 0;
  increment() {
    return ++this.#n;
  }
  async slow(ms: number) {
    await new Promise((r) => setTimeout(r, ms));
    return 'slow done';
  }
}

class Factory extends Service {
  shared = new Thing();
  make(n: number) {
    return Array.from({ length: n }, () => new Thing());
  }
  one() {
    return new Thing();
  }
  theShared() {
    return this.shared;
  }
}

/** Collects garbage until `done()` holds (bounded: `rounds` rounds of 40 ms). */
async function collectUntil(done: () => boolean, rounds = 50): Promise<void> {
  for (let i = 0; i < rounds && !done(); i++) {
    gc!();
    await new Promise((r) => setTimeout(r, 40));
  }
}

describe.runIf(gc !== undefined)('remote garbage collection (--expose-gc)', () => {
  it('dropping 10 000 remote references returns the owner export table to its baseline', async () => {
    const { server, client } = await connectionPair('memory', { service: Factory });
    const factory = client.root as Remote<Factory>;
    const baseline = server.stats().exports;
    let things: unknown[] | undefined = await factory.make(10_000);
    expect(things).toHaveLength(10_000);
    expect(server.stats().exports).toBe(baseline + 10_000);
    expect(client.stats().imports).toBe(10_000);
    things = undefined;
    await collectUntil(() => server.stats().exports === baseline);
    expect(server.stats().exports).toBe(baseline);
    expect(client.stats().imports).toBe(0);
    // Releases travel in batches, not one message per reference.
    expect(client.stats().messagesSent).toBeLessThan(200);
  });

  it('dropping one of two aliases keeps the object alive', async () => {
    const { server, client } = await connectionPair('memory', { service: Factory });
    const factory = client.root as Remote<Factory>;
    let first: Remote<Thing> | undefined = await factory.one();
    const second = first;
    first = undefined;
    await collectUntil(() => false, 6);
    expect(server.stats().exports).toBe(1);
    expect(await second.increment()).toBe(1);
  });

  it('an object held by two connections stays alive when one drops it', async () => {
    const shared = new Factory();
    const a = await connectionPair('memory', { service: shared });
    const b = await connectionPair('memory', { service: shared });
    let onA: Remote<Thing> | undefined = await (a.client.root as Remote<Factory>).theShared();
    const onB = await (b.client.root as Remote<Factory>).theShared();
    expect(await onA.increment()).toBe(1);
    onA = undefined;
    await collectUntil(() => a.server.stats().exports === 0);
    expect(a.server.stats().exports).toBe(0);
    expect(b.server.stats().exports).toBe(1);
    expect(await onB.increment()).toBe(2);
  });

  it('a stub is not released while a call through it is pending', async () => {
    const { server, client } = await connectionPair('memory', { service: Factory });
    const factory = client.root as Remote<Factory>;
    // No variable keeps the stub: only the pending call does.
    const pending = (await factory.one()).slow(1_500);
    await collectUntil(() => false, 6);
    expect(server.stats().exports).toBe(1);
    expect(await pending).toBe('slow done');
    await collectUntil(() => server.stats().exports === 0);
    expect(server.stats().exports).toBe(0);
  });
});

describe('explicit release', () => {
  it('release() and Symbol.dispose free the export; a released stub fails at once', async () => {
    const { server, client } = await connectionPair('memory', { service: Factory });
    const factory = client.root as Remote<Factory>;
    const a = await factory.one();
    const b = await factory.one();
    expect(server.stats().exports).toBe(2);
    release(a);
    (b as unknown as Disposable)[Symbol.dispose]();
    await waitFor(() => server.stats().exports === 0);
    await expect(Promise.resolve(a.increment())).rejects.toThrow(/released/);
  });

  it('a release racing with the same object being sent again keeps it alive', async () => {
    const { server, client } = await connectionPair('memory', { service: Factory });
    const factory = client.root as Remote<Factory>;
    const s1 = await factory.theShared();
    const again = factory.theShared();
    release(s1);
    const s2 = await again;
    expect(s2 === s1).toBe(false);
    await new Promise((r) => setTimeout(r, 60));
    expect(server.stats().exports).toBe(1);
    expect(await s2.increment()).toBe(1);
  });

  it('release waits for calls in flight through the stub', async () => {
    const { server, client } = await connectionPair('memory', { service: Factory });
    const factory = client.root as Remote<Factory>;
    const thing = await factory.one();
    const call = thing.slow(50);
    release(thing);
    expect(await call).toBe('slow done');
    await waitFor(() => server.stats().exports === 0);
  });
});

describe('limits on live references and pending calls', () => {
  it('an owner refuses to export more than maxLiveReferences; the caller gets a typed error', async () => {
    const { client } = await connectionPair('memory', {
      service: Factory,
      maxLiveReferences: 100,
    });
    const factory = client.root as Remote<Factory>;
    await expect(Promise.resolve(factory.make(101))).rejects.toMatchObject({
      code: 'ERR_LIMIT_EXCEEDED',
    });
  });

  it('a peer flooding us with references is cut off with ProtocolError', async () => {
    const { server, client } = await connectionPair(
      'memory',
      { service: Factory },
      { maxLiveReferences: 100 },
    );
    const factory = client.root as Remote<Factory>;
    // The call that brought the flood fails with the reason; the connection closes.
    await expect(Promise.resolve(factory.make(101))).rejects.toMatchObject({
      code: 'ERR_LIMIT_EXCEEDED',
    });
    const reason = await client.closed;
    expect(reason).toMatchObject({ name: 'ProtocolError', code: 'ERR_LIMIT_EXCEEDED' });
    await server.closed;
  });

  it('more than maxPendingCalls calls in flight fail locally with LimitExceededError', async () => {
    class Hang extends Service {
      hang() {
        return new Promise(() => {});
      }
    }
    const { client } = await connectionPair('memory', { service: Hang }, { maxPendingCalls: 10 });
    const root = client.root as Remote<Hang>;
    for (let i = 0; i < 10; i++) root.hang().catch(() => {});
    await expect(Promise.resolve(root.hang())).rejects.toMatchObject({
      code: 'ERR_LIMIT_EXCEEDED',
    });
    await client.close();
  });
});

describe('dispose on release', () => {
  class Resource {
    static disposed = 0;
    ping() {
      return 'pong';
    }
    [Symbol.dispose]() {
      Resource.disposed++;
    }
  }
  class Pool extends Service {
    get() {
      return new Resource();
    }
  }

  it('is off by default; with disposeOnRelease the last release disposes the object', async () => {
    const off = await connectionPair('memory', { service: Pool });
    const r1 = await (off.client.root as Remote<Pool>).get();
    release(r1);
    await waitFor(() => off.server.stats().exports === 0);
    expect(Resource.disposed).toBe(0);
    const on = await connectionPair('memory', { service: Pool, disposeOnRelease: true });
    const r2 = await (on.client.root as Remote<Pool>).get();
    expect(await r2.ping()).toBe('pong');
    release(r2);
    await waitFor(() => Resource.disposed === 1);
    // On close every remaining export is dropped (and disposed when enabled).
    await (on.client.root as Remote<Pool>).get();
    await on.client.close();
    await on.server.closed;
    expect(on.server.stats().exports).toBe(0);
    expect(Resource.disposed).toBe(2);
  });
});

describe('nothing leaks when a message cannot be sent', () => {
  it('references in arguments of a call too large to send are not left exported', async () => {
    class Sink extends Service {
      take(_a: unknown, _b: unknown) {
        return true;
      }
    }
    const { client } = await connectionPair(
      'memory',
      { service: Sink },
      { maxMessageBytes: 4_096 },
    );
    const sink = client.root as Remote<Sink>;
    const callback = () => 1;
    await expect(Promise.resolve(sink.take(callback, 'x'.repeat(10_000)))).rejects.toMatchObject({
      code: 'ERR_MESSAGE_TOO_LARGE',
    });
    expect(client.stats().exports).toBe(0);
    expect(await sink.take(callback, 'small')).toBe(true);
    expect(client.stats().exports).toBe(1);
  });
});

describe('release through withOptions', () => {
  it('releasing a stub made by withOptions releases the reference it stands for', async () => {
    const { withOptions } = await import('../src/connection.js');
    const { server, client } = await connectionPair('memory', { service: Factory });
    const thing = await (client.root as Remote<Factory>).one();
    const timed = withOptions(thing, { timeout: 1_000 });
    expect(await timed.increment()).toBe(1);
    release(timed);
    await waitFor(() => server.stats().exports === 0);
    await expect(Promise.resolve(thing.increment())).rejects.toThrow(/released/);
  });
});
