import { describe, expect, it } from 'vitest';
import type { Remote } from '../src/remote.js';
import { Service } from '../src/service.js';
import { connectionPair } from './helpers.js';

class Source extends Service {
  closed = 0;
  numbers(n: number) {
    const self = this;
    return {
      *[Symbol.iterator]() {
        try {
          for (let i = 0; i < n; i++) yield i;
        } finally {
          self.closed++;
        }
      },
    };
  }
  async *events(n: number) {
    try {
      for (let i = 0; i < n; i++) {
        await new Promise((r) => setTimeout(r, 0));
        yield { i };
      }
    } finally {
      this.closed++;
    }
  }
  list() {
    return [1, 2, 3];
  }
}

describe('remote iteration', () => {
  it('10 000 items arrive in far fewer round trips than items', async () => {
    const { server, client } = await connectionPair('memory', { service: Source });
    const source = client.root as Remote<Source>;
    const before = client.stats().requestsSent;
    const items: number[] = [];
    for await (const x of source.numbers(10_000) as unknown as AsyncIterable<number>) items.push(x);
    expect(items).toHaveLength(10_000);
    expect(items[9_999]).toBe(9_999);
    const requests = client.stats().requestsSent - before;
    expect(requests).toBeLessThanOrEqual(Math.ceil(10_000 / 256) + 1);
    expect((server.service as Source).closed).toBe(1);
  });

  it('async generators work with for await, and breaking early closes them remotely', async () => {
    const { server, client } = await connectionPair('memory', { service: Source });
    const source = client.root as Remote<Source>;
    const got: unknown[] = [];
    for await (const e of source.events(5) as unknown as AsyncIterable<{ i: number }>)
      got.push(e.i);
    expect(got).toEqual([0, 1, 2, 3, 4]);
    let count = 0;
    for await (const _ of source.events(1_000) as unknown as AsyncIterable<unknown>) {
      if (++count === 3) break;
    }
    const service = server.service as Source;
    await new Promise((r) => setTimeout(r, 100));
    expect(service.closed).toBe(2);
  });

  it('a by-value array result is just an array', async () => {
    const { client } = await connectionPair('memory', { service: Source });
    expect(await (client.root as Remote<Source>).list()).toEqual([1, 2, 3]);
  });
});
