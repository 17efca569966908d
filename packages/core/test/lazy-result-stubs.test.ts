/**
 * A call result gets its stub state only when it is used as a stub: a caller that only
 * awaits it (or calls then/Promise.resolve on it) makes none, and everything a stub does
 * still works on a result, before and after it settles.
 */
import { describe, expect, it } from 'vitest';
import { isRemote, release, withOptions } from '../src/connection.js';
import { TimeoutError } from '../src/errors.js';
import { currentCall, Service } from '../src/index.js';
import type { Remote } from '../src/remote.js';
import { stubStateMade } from '../src/stub.js';
import { connectionPair, waitFor } from './helpers.js';

class Counter extends Service {
  n = 0;
  bump() {
    return ++this.n;
  }
}

class Api extends Service {
  add(a: number, b: number) {
    return a + b;
  }
  counter() {
    return new Counter();
  }
  record() {
    return { inner: { value: 7 } };
  }
  adder(n: number) {
    return (x: number) => x + n;
  }
  twice(c: Counter) {
    return c.bump() + c.bump();
  }
  async slow() {
    const { signal } = currentCall();
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, 5_000);
      signal.addEventListener('abort', () => {
        clearTimeout(timer);
        resolve(undefined);
      });
    });
    return 'late';
  }
}

async function pair() {
  const { server, client } = await connectionPair('memory', { service: Api });
  return { server, client, api: client.root as Remote<Api> };
}

describe('call results make their stub state on first use as a stub', () => {
  it('awaiting, then() and Promise.resolve() make no state', async () => {
    const { api, client } = await pair();
    const awaited = api.add(1, 2);
    expect(await awaited).toBe(3);
    const thened = api.add(2, 3);
    expect(await thened.then((v) => v * 2)).toBe(10);
    const resolved = api.add(3, 4);
    expect(await Promise.resolve(resolved)).toBe(7);
    for (const result of [awaited, thened, resolved]) expect(stubStateMade(result)).toBe(false);
    // A failed call too.
    const failing = (api as unknown as { missing(): Promise<unknown> }).missing();
    await expect(Promise.resolve(failing)).rejects.toMatchObject({ code: 'ERR_ACCESS_DENIED' });
    expect(stubStateMade(failing)).toBe(false);
    await client.close();
  });

  it('pipelining on a pending result makes it, and works', async () => {
    const { api, client } = await pair();
    const counter = api.counter();
    const bumped = counter.bump();
    expect(stubStateMade(counter)).toBe(true);
    expect(await bumped).toBe(1);
    expect(await api.record().inner.value).toBe(7);
    expect(await api.adder(10)(5)).toBe(15);
    await client.close();
  });

  it('a result used as a stub after it settled still works', async () => {
    const { api, client, server } = await pair();
    const counter = api.counter();
    const stub = await counter;
    expect(stubStateMade(counter)).toBe(false);
    expect(await counter.bump()).toBe(1);
    expect(await stub.bump()).toBe(2);
    const record = api.record();
    await record;
    expect(await record.inner.value).toBe(7);
    // Passed by reference once settled: the object it resolved to goes back home.
    expect(await api.twice(counter as unknown as Counter)).toBe(3 + 4);
    expect(isRemote(counter)).toBe(true);
    expect(String(counter)).toMatch(/^\[RemoteStub result#\d+\]$/);
    // Releasing the result releases the reference it resolved to.
    release(counter);
    await waitFor(() => server.stats().exports === 0);
    await client.close();
  });

  it('a pending result passed by reference resolves on the peer', async () => {
    const { api, client } = await pair();
    const counter = api.counter();
    expect(await api.twice(counter as unknown as Counter)).toBe(1 + 2);
    expect(stubStateMade(counter)).toBe(true);
    await client.close();
  });

  it('timeouts and cancellation of the stub a call went through still apply', async () => {
    const { api, client, server } = await pair();
    const timed = withOptions(api, { timeout: 30 }).slow();
    await expect(Promise.resolve(timed)).rejects.toBeInstanceOf(TimeoutError);
    expect(stubStateMade(timed)).toBe(false);
    const controller = new AbortController();
    const cancelled = withOptions(api, { signal: controller.signal }).slow();
    controller.abort(new Error('stop'));
    await expect(Promise.resolve(cancelled)).rejects.toThrow('stop');
    await waitFor(() => server.stats().serving === 0);
    // The options carry over to calls pipelined on a result.
    const viaResult = withOptions(api, { timeout: 30 }).counter();
    expect(await viaResult.bump()).toBe(1);
    await client.close();
  });

  it('results are read-only and answer nothing but stub members', async () => {
    const { api, client } = await pair();
    const result = api.add(1, 1) as unknown as Record<string, unknown>;
    expect(() => {
      result.x = 1;
    }).toThrow(TypeError);
    expect(Object.keys(result)).toEqual([]);
    expect('then' in result).toBe(false);
    expect(typeof result).toBe('function');
    expect(stubStateMade(result)).toBe(false);
    await result;
    await client.close();
  });
});
