/**
 * How long a peer's request stays charged to the server's budget (docs/protocol.md §9): a
 * call counts from its admission until it has both settled and been finished (or cancelled
 * and settled), exactly as it counts against `maxPendingCalls`; its request bytes until it
 * settles or is cancelled. Refused requests (`maxPendingCalls`, `maxPipelineDepth`, the
 * budget) are answered each with ERR_LIMIT_EXCEEDED, and the references in a request
 * refused before admission go back to the peer. Whatever the mix, nothing leaks and
 * nothing is given back twice: the budget's usage returns to zero.
 */
import { describe, expect, it } from 'vitest';
import { SharedBudget } from '../src/budget.js';
import { type ConnectionOptions, connectTransport } from '../src/connection.js';
import { memoryTransportPair } from '../src/memory-transport.js';
import { Service } from '../src/service.js';
import { waitFor } from './helpers.js';
import { callAnswer, callExport, RawPeer } from './raw-peer.js';

const TAG_EXPORT = 5;
const HOUSEKEEPING = 4;
const CANCEL = 5;

/** Resolvers of the calls parked by `park`, in arrival order. */
const parked: (() => void)[] = [];

class Thing {
  self(): Thing {
    return this;
  }
}

class Parking extends Service {
  park(..._callbacks: unknown[]): Promise<Thing> {
    return new Promise((resolve) => parked.push(() => resolve(new Thing())));
  }
  add(a: number, b: number): number {
    return a + b;
  }
  take(_value: unknown): string {
    return 'taken';
  }
}

async function victim(budget: SharedBudget, key: string, options: ConnectionOptions = {}) {
  const [a, b] = memoryTransportPair();
  const peer = new RawPeer(b);
  peer.hello();
  const connection = await connectTransport(a, {
    service: Parking,
    budget,
    budgetKey: key,
    ...options,
  });
  return { connection, peer };
}

/** The ids the victim released back to `peer` so far, one entry per count. */
function releasedTo(peer: RawPeer): number[] {
  const ids: number[] = [];
  for (const message of peer.others) {
    if (message[0] !== HOUSEKEEPING || !Array.isArray(message[2])) continue;
    const releases = message[2] as number[];
    for (let i = 0; i + 1 < releases.length; i += 2)
      for (let n = 0; n < releases[i + 1]!; n++) ids.push(releases[i]!);
  }
  return ids.sort((x, y) => x - y);
}

function errorMessage(peer: RawPeer, qid: number): string {
  const value = peer.replies.get(qid)?.value;
  return Array.isArray(value) ? String(value[2]) : '';
}

describe('budget charges follow the lifetime of a call', () => {
  it('after admitted, refused, cancelled, finished and pipelined calls and a close, usage() is zero', async () => {
    parked.length = 0;
    // A share of 12 calls per key: 'a' meets the budget, 'b' meets maxPendingCalls.
    const budget = new SharedBudget({ maxCalls: 100, share: 0.12 });
    const a = await victim(budget, 'a', { maxPipelineDepth: 2 });
    const b = await victim(budget, 'b', { maxPendingCalls: 3 });

    // Six running calls, each carrying a callback of the peer.
    for (let qid = 1; qid <= 6; qid++)
      a.peer.send(callExport(qid, 0, ['park'], [[TAG_EXPORT, 100 + qid]]));
    await waitFor(() => parked.length === 6);
    expect(budget.usage()).toMatchObject({ calls: 6, references: 6 });
    const sixRequests = budget.usage().requestBytes;
    expect(sixRequests).toBeGreaterThan(0);

    // Finished or cancelled while running: the calls count until they settle, the bytes
    // of their requests are given back at once.
    a.peer.send([HOUSEKEEPING, [1, 2], []]);
    a.peer.send([CANCEL, 3]);
    await waitFor(() => budget.usage().requestBytes < sixRequests);
    expect(budget.usage().calls).toBe(6);
    expect(budget.usage().requestBytes).toBe(sixRequests / 2);

    // Six more fill the share; three past it are refused one by one, and their callbacks
    // are released back to the peer unread.
    for (let qid = 7; qid <= 12; qid++) a.peer.send(callExport(qid, 0, ['park']));
    for (let qid = 13; qid <= 15; qid++)
      a.peer.send(callExport(qid, 0, ['park'], [[TAG_EXPORT, 200 + qid]]));
    await a.peer.replied(3);
    for (let qid = 13; qid <= 15; qid++) {
      expect(a.peer.replies.get(qid)).toMatchObject({ kind: 3, code: 'ERR_LIMIT_EXCEEDED' });
      expect(errorMessage(a.peer, qid)).toMatch(/budget/);
    }
    await waitFor(() => releasedTo(a.peer).length === 3);
    expect(releasedTo(a.peer)).toEqual([213, 214, 215]);
    expect(budget.usage()).toMatchObject({ calls: 12, references: 6 });
    expect(parked.length).toBe(12);

    // The three let-go calls settle: now they stop counting, once each.
    for (let i = 0; i < 3; i++) parked[i]!();
    await waitFor(() => budget.usage().calls === 9);

    // Past maxPendingCalls on 'b': refused with its own message, callbacks given back.
    for (let qid = 1; qid <= 3; qid++) b.peer.send(callExport(qid, 0, ['park']));
    for (let qid = 4; qid <= 5; qid++)
      b.peer.send(callExport(qid, 0, ['park'], [[TAG_EXPORT, 300 + qid]]));
    await b.peer.replied(2);
    for (let qid = 4; qid <= 5; qid++) {
      expect(b.peer.replies.get(qid)).toMatchObject({ kind: 3, code: 'ERR_LIMIT_EXCEEDED' });
      expect(errorMessage(b.peer, qid)).toMatch(/held at once/);
    }
    await waitFor(() => releasedTo(b.peer).length === 2);
    expect(releasedTo(b.peer)).toEqual([304, 305]);
    expect(budget.usage().calls).toBe(12);

    // Every parked call settles; the unfinished ones are answered and stay counted.
    for (let i = 3; i < parked.length; i++) parked[i]!();
    await a.peer.replied(3 + 9);
    await b.peer.replied(2 + 3);
    expect(budget.usage()).toMatchObject({ calls: 12, requestBytes: 0 });

    // Pipelined on a settled answer: two links are served, the third is too deep.
    a.peer.send(callAnswer(16, 4, ['self']));
    a.peer.send(callAnswer(17, 16, ['self']));
    a.peer.send(callAnswer(18, 17, ['self']));
    await a.peer.replied(12 + 3);
    expect(a.peer.replies.get(16)?.kind).toBe(2);
    expect(a.peer.replies.get(17)?.kind).toBe(2);
    expect(a.peer.replies.get(18)).toMatchObject({ kind: 3, code: 'ERR_LIMIT_EXCEEDED' });
    expect(errorMessage(a.peer, 18)).toMatch(/pipelined/);
    expect(budget.usage().calls).toBe(15);

    // Finishes riding on a request are applied before it is served (it fits the share).
    const finishes = [4, 5, 6, 7, 8, 9, 10, 11, 12, 16, 17, 18];
    a.peer.send([...callExport(19, 0, ['add'], [1, 2]), finishes, []]);
    await a.peer.replied(16);
    expect(a.peer.replies.get(19)).toMatchObject({ kind: 2, value: 3 });
    // Finishing an answer twice, or one never admitted, changes nothing.
    a.peer.send([HOUSEKEEPING, [19, 19, 13, 4], []]);
    b.peer.send([HOUSEKEEPING, [1, 2, 3, 4, 5], []]);
    a.peer.send([CANCEL, 19]);
    await waitFor(() => budget.usage().calls === 0);
    expect(budget.usage()).toMatchObject({ calls: 0, requestBytes: 0 });
    expect(a.connection.isClosed).toBe(false);
    expect(b.connection.isClosed).toBe(false);

    await a.connection.close();
    await b.connection.close();
    expect(budget.usage()).toMatchObject({ calls: 0, requestBytes: 0, references: 0, keys: 0 });
  });

  it('a connection closed with calls parked, cancelled and pipelined gives everything back', async () => {
    parked.length = 0;
    const budget = new SharedBudget();
    const a = await victim(budget, 'a');
    for (let qid = 1; qid <= 4; qid++)
      a.peer.send(callExport(qid, 0, ['park'], [[TAG_EXPORT, qid]]));
    a.peer.send(callAnswer(5, 1, ['self']));
    a.peer.send([CANCEL, 2]);
    await waitFor(() => parked.length === 4);
    expect(budget.usage()).toMatchObject({ calls: 5, references: 4 });
    await a.connection.close();
    expect(budget.usage()).toMatchObject({ calls: 0, requestBytes: 0, references: 0, keys: 0 });
    // Settling after the close gives nothing back twice (the counters cannot go negative).
    for (const resolve of parked) resolve();
    await new Promise((r) => setTimeout(r, 10));
    expect(budget.usage()).toMatchObject({ calls: 0, requestBytes: 0, references: 0 });
  });

  it('a thenable dropped on arrival gives back its reference in the budget too', async () => {
    const budget = new SharedBudget();
    const a = await victim(budget, 'a');
    // The argument is a plain object whose `then` is a callback of the peer: dropped on
    // arrival, its one receipt is released to the peer.
    // biome-ignore lint/suspicious/noThenProperty: a thenable argument is what this sends.
    a.peer.send(callExport(1, 0, ['take'], [{ then: [TAG_EXPORT, 7] }]));
    await a.peer.replied(1);
    expect(a.peer.replies.get(1)).toMatchObject({ kind: 2, value: 'taken' });
    await waitFor(() => releasedTo(a.peer).length === 1);
    expect(releasedTo(a.peer)).toEqual([7]);
    expect(budget.usage().references).toBe(0);
    await a.connection.close();
  });
});
