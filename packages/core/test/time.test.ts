import { describe, expect, it } from 'vitest';
import { currentCall } from '../src/call-context.js';
import { withOptions } from '../src/connection.js';
import { ConnectionClosedError, TimeoutError } from '../src/errors.js';
import type { Remote } from '../src/remote.js';
import { Service } from '../src/service.js';
import { connectionPair, TRANSPORTS, waitFor } from './helpers.js';

class Slow extends Service {
  aborted = 0;
  started = 0;
  wait(ms: number) {
    const { signal } = currentCall();
    this.started++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve('done'), ms);
      signal.addEventListener('abort', () => {
        clearTimeout(timer);
        this.aborted++;
        resolve('aborted');
      });
    });
  }
  forever() {
    return new Promise(() => {});
  }
}

describe('time and failure', () => {
  it('the connection timeout applies to every call; a per-call timeout overrides it', async () => {
    const { server, client } = await connectionPair('memory', { service: Slow }, { timeout: 50 });
    const slow = client.root as Remote<Slow>;
    const started = Date.now();
    const first = await slow.wait(5_000).catch((e: unknown) => e);
    expect(first, String(first)).toBeInstanceOf(TimeoutError);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(await withOptions(slow, { timeout: 2_000 }).wait(100)).toBe('done');
    await expect(
      Promise.resolve(withOptions(slow, { timeout: 20 }).forever()),
    ).rejects.toBeInstanceOf(TimeoutError);
    // The timed-out call was cancelled on the remote side too.
    await waitFor(() => (server.service as Slow).aborted === 1);
  });

  it('the default per-call timeout is 30 s', async () => {
    const { DEFAULT_CONNECTION_OPTIONS } = await import('../src/connection.js');
    expect(DEFAULT_CONNECTION_OPTIONS.timeout).toBe(30_000);
  });

  it('an AbortSignal cancels the call locally at once and on the remote side', async () => {
    const { server, client } = await connectionPair('memory', { service: Slow });
    const slow = client.root as Remote<Slow>;
    const controller = new AbortController();
    const call = withOptions(slow, { signal: controller.signal }).wait(10_000);
    await waitFor(() => (server.service as Slow).started === 1);
    controller.abort(new Error('user gave up'));
    await expect(Promise.resolve(call)).rejects.toThrow('user gave up');
    await waitFor(() => (server.service as Slow).aborted === 1);
    expect(client.stats().questions).toBe(0);
    await waitFor(() => server.stats().answers === 0);
    // An already-aborted signal never sends the call.
    await expect(
      Promise.resolve(withOptions(slow, { signal: AbortSignal.abort(new Error('early')) }).wait(1)),
    ).rejects.toThrow('early');
    expect((server.service as Slow).started).toBe(1);
  });

  for (const kind of TRANSPORTS) {
    it(`over ${kind}: a peer that goes away rejects all pending calls at once`, async () => {
      const { server, client } = await connectionPair(kind, { service: Slow });
      const slow = client.root as Remote<Slow>;
      const calls = Array.from({ length: 50 }, () => slow.forever());
      await waitFor(() => server.stats().answers === 50);
      const started = Date.now();
      await server.close();
      const results = await Promise.allSettled(calls);
      expect(Date.now() - started).toBeLessThan(1_000);
      for (const r of results) {
        expect(r.status).toBe('rejected');
        expect((r as PromiseRejectedResult).reason).toBeInstanceOf(ConnectionClosedError);
      }
      await expect(Promise.resolve(slow.wait(1))).rejects.toBeInstanceOf(ConnectionClosedError);
      expect(client.isClosed).toBe(true);
    });
  }
});

describe('faults', () => {
  it('a socket reset mid-call settles every call once and empties the tables', async () => {
    const { tcpPair } = await import('./helpers.js');
    const { duplexTransport } = await import('../src/duplex-transport.js');
    const { connectTransport } = await import('../src/connection.js');
    const { client: clientSocket, server: serverSocket } = await tcpPair();
    class Holder extends Service {
      things = [new Slow(), new Slow()];
      list() {
        return this.things;
      }
      forever() {
        return new Promise(() => {});
      }
    }
    const [server, client] = await Promise.all([
      connectTransport(duplexTransport(serverSocket), { service: Holder }),
      connectTransport(duplexTransport(clientSocket)),
    ]);
    const holder = client.root as Remote<Holder>;
    const list = await holder.list();
    expect(list).toHaveLength(2);
    expect(server.stats().exports).toBe(2);
    let settled = 0;
    const calls = Array.from({ length: 20 }, () =>
      Promise.resolve(holder.forever()).finally(() => settled++),
    );
    await waitFor(() => server.stats().answers === 20);
    serverSocket.resetAndDestroy();
    const results = await Promise.allSettled(calls);
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
    expect(settled).toBe(20);
    await server.closed;
    await client.closed;
    expect(server.stats()).toMatchObject({ exports: 0, imports: 0, answers: 0, questions: 0 });
    expect(client.stats()).toMatchObject({ exports: 0, imports: 0, answers: 0, questions: 0 });
  });

  it('a peer that never says hello fails the connection after helloTimeout', async () => {
    const { memoryTransportPair } = await import('../src/memory-transport.js');
    const { connectTransport } = await import('../src/connection.js');
    const [a, b] = memoryTransportPair();
    b.start({ onMessage: () => {}, onClose: () => {} });
    await expect(connectTransport(a, { helloTimeout: 50 })).rejects.toBeInstanceOf(TimeoutError);
  });
});

describe('drain', () => {
  it('resolves once every call being served has settled', async () => {
    const { server, client } = await connectionPair('memory', { service: Slow });
    const slow = client.root as Remote<Slow>;
    const calls = [slow.wait(30), slow.wait(60)];
    await waitFor(() => server.stats().serving === 2);
    let drained = false;
    const draining = server.drain().then(() => {
      drained = true;
    });
    await new Promise((r) => setTimeout(r, 40));
    expect(drained).toBe(false);
    await draining;
    expect(server.stats().serving).toBe(0);
    expect(await Promise.all(calls)).toEqual(['done', 'done']);
    await server.drain(); // nothing in flight: at once
    // A cancelled call stops counting as served.
    const controller = new AbortController();
    const cancelled = withOptions(slow, { signal: controller.signal }).forever();
    await waitFor(() => server.stats().serving === 1);
    controller.abort(new Error('stop'));
    await expect(Promise.resolve(cancelled)).rejects.toThrow('stop');
    await server.drain();
    expect(server.stats().serving).toBe(0);
  });
});

describe('close under load', () => {
  it('every one of 1 000 calls in flight settles exactly once when the server closes', async () => {
    class Busy extends Service {
      async work(i: number, report: (i: number) => Promise<void>) {
        await report(i);
        await new Promise((r) => setTimeout(r, i % 7));
        return i;
      }
    }
    const { server, client } = await connectionPair('tcp', { service: Busy });
    const busy = client.root as Remote<Busy>;
    const settled = new Map<number, number>();
    let reported = 0;
    const report = async () => {
      reported++;
    };
    const calls = Array.from({ length: 1_000 }, (_, i) =>
      Promise.resolve(busy.work(i, report)).then(
        () => settled.set(i, (settled.get(i) ?? 0) + 1),
        () => settled.set(i, (settled.get(i) ?? 0) + 1),
      ),
    );
    await waitFor(() => reported > 100);
    await server.close();
    await Promise.all(calls);
    expect(settled.size).toBe(1_000);
    expect([...settled.values()].every((n) => n === 1)).toBe(true);
    await client.closed;
    expect(client.stats()).toMatchObject({ questions: 0, exports: 0, imports: 0 });
    expect(server.stats()).toMatchObject({ answers: 0, exports: 0, imports: 0 });
  });
});
