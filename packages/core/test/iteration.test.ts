import { describe, expect, it } from 'vitest';
import type { Remote } from '../src/remote.js';
import { Service } from '../src/service.js';
import { connectionPair, waitFor } from './helpers.js';

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

describe('regression: the iterator handle', () => {
  it('exposes no methods to the peer: batches only through the clamped iterate operation', async () => {
    const { Packr } = await import('msgpackr');
    const { memoryTransportPair } = await import('../src/memory-transport.js');
    const { connectTransport } = await import('../src/connection.js');
    class Endless extends Service {
      *forever() {
        let i = 0;
        while (true) yield i++;
      }
    }
    const raw = new Packr({ useRecords: false, mapsAsObjects: false });
    const [a, b] = memoryTransportPair();
    const replies: unknown[][] = [];
    b.start({ onMessage: (d) => replies.push(raw.unpack(d) as unknown[]), onClose: () => {} });
    b.send(raw.pack([0, 'keyway-rpc', 1]));
    const victim = await connectTransport(a, { service: Endless, iterationBatchSize: 8 });
    // iterate root.forever() (pipelined: call then iterate on its answer)
    b.send(raw.pack([1, 1, 3, 0, 0, ['forever'], [], 0]));
    b.send(raw.pack([1, 2, 4, 1, 1, null, [1_000_000], 0]));
    await waitFor(() => replies.some((m) => m[0] === 2 && m[1] === 2));
    const batch = replies.find((m) => m[0] === 2 && m[1] === 2)![2] as Map<string, unknown>;
    expect((batch.get('items') as unknown[]).length).toBe(9); // [0-tag, ...8 items]
    const handleId = (batch.get('handle') as unknown[])[1] as number;
    // Driving the handle directly, by any name, is refused.
    for (const [qid, name] of [
      [3, 'pull'],
      [4, '_pull'],
      [5, 'close'],
    ] as const)
      b.send(raw.pack([1, qid, 3, 0, handleId, [name], [1_000_000_000], 0]));
    await waitFor(() => replies.filter((m) => m[0] === 3).length === 3);
    for (const m of replies.filter((r) => r[0] === 3))
      expect((m[2] as unknown[])[3]).toBe('ERR_ACCESS_DENIED');
    expect(victim.isClosed).toBe(false);
    await victim.close();
  });
});
