/**
 * A budget shared by many connections: requests being served, live references and
 * unfinished calls are bounded over all of them, and one identity cannot take more than
 * its share. Over the budget a call is rejected with ERR_LIMIT_EXCEEDED; the connection
 * stays open, and a connection of another identity keeps working.
 */
import { describe, expect, it } from 'vitest';
import { BudgetKind, SharedBudget } from '../src/budget.js';
import {
  type Connection,
  type ConnectionOptions,
  connectTransport,
  withOptions,
} from '../src/connection.js';
import { LimitExceededError } from '../src/errors.js';
import { memoryTransportPair } from '../src/memory-transport.js';
import type { Remote } from '../src/remote.js';
import { Service } from '../src/service.js';
import { waitFor } from './helpers.js';

class Thing {
  poke() {
    return 'poked';
  }
}

class Vault extends Service {
  #kept: unknown[] = [];
  add(a: number, b: number) {
    return a + b;
  }
  hang(): Promise<void> {
    return new Promise(() => {});
  }
  hold(_payload: Uint8Array): Promise<void> {
    return new Promise(() => {});
  }
  keep(callback: () => number) {
    this.#kept.push(callback);
    return this.#kept.length;
  }
  make() {
    return new Thing();
  }
}

type VaultApi = Remote<Vault>;

async function pair(budget: SharedBudget, key: string, options: ConnectionOptions = {}) {
  const [a, b] = memoryTransportPair();
  const [server, client] = await Promise.all([
    connectTransport(a, { service: Vault, budget, budgetKey: key, ...options }),
    connectTransport(b),
  ]);
  return { server, client, vault: client.root as VaultApi };
}

/** Starts `count` calls and collects into `errors` the errors of those that fail. */
function fire(count: number, call: () => Promise<unknown>, errors: unknown[] = []): unknown[] {
  for (let i = 0; i < count; i++) call().catch((error) => errors.push(error));
  return errors;
}

function expectOverBudget(errors: unknown[]): void {
  for (const error of errors) {
    expect(error).toBeInstanceOf(LimitExceededError);
    expect((error as LimitExceededError).code).toBe('ERR_LIMIT_EXCEEDED');
  }
}

async function closeAll(connections: Connection[]): Promise<void> {
  await Promise.all(connections.map((c) => c.close()));
}

describe('SharedBudget', () => {
  it('charges totals and per-key shares, and refuses without taking anything', () => {
    const budget = new SharedBudget({ maxCalls: 10, share: 0.5 });
    const a1 = budget.open('alice');
    const a2 = budget.open('alice');
    const b = budget.open('bob');
    expect(a1.acquire(BudgetKind.Calls, 3)).toBe(true);
    expect(a2.acquire(BudgetKind.Calls, 2)).toBe(true);
    // alice's two connections together hold her share of 5.
    expect(a2.acquire(BudgetKind.Calls, 1)).toBe(false);
    expect(b.acquire(BudgetKind.Calls, 5)).toBe(true);
    expect(b.acquire(BudgetKind.Calls, 1)).toBe(false);
    expect(budget.usage()).toMatchObject({ calls: 10, keys: 2, refusals: 2 });
    a1.release(BudgetKind.Calls, 1);
    expect(a2.acquire(BudgetKind.Calls, 1)).toBe(true);
    // A release never gives back more than the account took.
    b.release(BudgetKind.Calls, 100);
    expect(budget.usage().calls).toBe(5);
    a1.close();
    a2.close();
    a2.release(BudgetKind.Calls, 1);
    expect(budget.usage()).toMatchObject({ calls: 0, keys: 1 });
    b.close();
    expect(budget.usage()).toMatchObject({ calls: 0, references: 0, requestBytes: 0, keys: 0 });
  });

  it('has documented defaults and checks its options', () => {
    expect(new SharedBudget().limits).toEqual({
      maxRequestBytes: 256 * 1024 * 1024,
      maxReferences: 500_000,
      maxCalls: 100_000,
      share: 0.25,
    });
    expect(() => new SharedBudget({ maxCalls: 0 })).toThrow(RangeError);
    expect(() => new SharedBudget({ share: 0 })).toThrow(RangeError);
    expect(() => new SharedBudget({ share: 1.5 })).toThrow(RangeError);
    expect(() => new SharedBudget({ maxReferences: Number.NaN })).toThrow(RangeError);
  });

  it('connectTransport checks the budget option', async () => {
    const [a] = memoryTransportPair();
    await expect(connectTransport(a, { budget: {} as unknown as SharedBudget })).rejects.toThrow(
      TypeError,
    );
  });
});

describe('a budget shared by many connections', () => {
  it('unfinished calls: many connections of one identity hit its share; another identity still works', async () => {
    const budget = new SharedBudget({ maxCalls: 100, share: 0.5 });
    const mallory = await Promise.all([1, 2, 3, 4].map(() => pair(budget, 'mallory')));
    const refused: unknown[] = [];
    for (const { vault } of mallory) fire(30, () => vault.hang(), refused);
    // 120 calls, a share of 50: 70 are rejected, each with its own typed error.
    await waitFor(() => refused.length === 70);
    expectOverBudget(refused);
    expect(budget.usage().calls).toBe(50);
    for (const { server } of mallory) expect(server.isClosed).toBe(false);

    const alice = await pair(budget, 'alice');
    expect(await alice.vault.add(1, 2)).toBe(3);
    const aliceRefused = fire(60, () => alice.vault.hang());
    // Her share is 50, and 50 calls are left in the server's budget.
    await waitFor(() => aliceRefused.length === 10);
    expect(budget.usage().calls).toBe(100);
    // The server holds its whole budget now, so a third identity is refused too.
    const eve = await pair(budget, 'eve');
    await expect(eve.vault.add(1, 1)).rejects.toThrow(LimitExceededError);

    await closeAll(mallory.flatMap(({ server, client }) => [server, client]));
    expect(budget.usage().calls).toBe(50);
    expect(await eve.vault.add(1, 1)).toBe(2);
    await closeAll([alice.client, alice.server, eve.client, eve.server]);
    expect(budget.usage()).toMatchObject({ calls: 0, requestBytes: 0, references: 0, keys: 0 });
  });

  it('request bytes: big pending requests hit the share; a cancelled one gives its bytes back', async () => {
    const mib = 1024 * 1024;
    const budget = new SharedBudget({ maxRequestBytes: 16 * mib, share: 0.25 });
    const mallory = await Promise.all([1, 2].map(() => pair(budget, 'mallory')));
    const payload = new Uint8Array(mib);
    const controller = new AbortController();
    const first = withOptions(mallory[0]!.vault, { signal: controller.signal }).hold(payload);
    first.catch(() => {});
    const refused: unknown[] = [];
    for (const { vault } of mallory) fire(3, () => vault.hold(payload), refused);
    // A share of 4 MiB holds three requests of a little over 1 MiB each.
    await waitFor(() => refused.length === 4);
    expectOverBudget(refused);
    const held = budget.usage().requestBytes;
    expect(held).toBeGreaterThan(3 * mib);
    expect(held).toBeLessThanOrEqual(4 * mib);

    const alice = await pair(budget, 'alice');
    const aliceRefused = fire(2, () => alice.vault.hold(payload));
    expect(await alice.vault.add(2, 3)).toBe(5);
    expect(aliceRefused).toEqual([]);

    controller.abort();
    await waitFor(() => budget.usage().requestBytes < held + 2 * mib);
    const again = fire(1, () => mallory[1]!.vault.hold(payload));
    await new Promise((r) => setTimeout(r, 50));
    expect(again).toEqual([]);
    await closeAll([...mallory, alice].flatMap(({ server, client }) => [server, client]));
    expect(budget.usage()).toMatchObject({ calls: 0, requestBytes: 0, keys: 0 });
  });

  it('imports: callbacks over the share are refused, and given back to the sender at once', async () => {
    const budget = new SharedBudget({ maxReferences: 100, share: 0.5 });
    const mallory = await Promise.all([1, 2, 3].map(() => pair(budget, 'mallory')));
    const refused: unknown[] = [];
    for (const { vault } of mallory) fire(30, () => vault.keep(() => 1), refused);
    await waitFor(() => refused.length === 40);
    expectOverBudget(refused);
    expect(budget.usage().references).toBe(50);
    // The refused callbacks are released on the clients: only the 50 kept stay exported.
    await waitFor(() => mallory.reduce((n, { client }) => n + client.stats().exports, 0) === 50);
    const alice = await pair(budget, 'alice');
    expect(await alice.vault.keep(() => 2)).toBe(1);
    for (const { server } of mallory) expect(server.isClosed).toBe(false);
    await closeAll([...mallory, alice].flatMap(({ server, client }) => [server, client]));
    expect(budget.usage()).toMatchObject({ references: 0, keys: 0 });
  });

  it('exports: results that would export past the share are rejected, nothing leaks', async () => {
    const budget = new SharedBudget({ maxReferences: 40, share: 0.5 });
    const mallory = await Promise.all([1, 2].map(() => pair(budget, 'mallory')));
    const kept: unknown[] = [];
    const refused: unknown[] = [];
    for (const { vault } of mallory)
      for (let i = 0; i < 15; i++)
        vault.make().then(
          (thing) => kept.push(thing),
          (error) => refused.push(error),
        );
    await waitFor(() => kept.length + refused.length === 30);
    expect(kept.length).toBe(20);
    expectOverBudget(refused);
    expect(mallory.reduce((n, { server }) => n + server.stats().exports, 0)).toBe(20);
    const alice = await pair(budget, 'alice');
    expect(await (await alice.vault.make()).poke()).toBe('poked');
    await closeAll([...mallory, alice].flatMap(({ server, client }) => [server, client]));
    expect(budget.usage()).toMatchObject({ references: 0, keys: 0 });
  });

  it('the key defaults to the transport address, so one source gets one share', async () => {
    const budget = new SharedBudget({ maxCalls: 10, share: 0.5 });
    const [a, b] = memoryTransportPair();
    const [server, client] = await Promise.all([
      connectTransport(a, { service: Vault, budget }),
      connectTransport(b),
    ]);
    const refused = fire(8, () => (client.root as VaultApi).hang());
    await waitFor(() => refused.length === 3);
    expectOverBudget(refused);
    await closeAll([client, server]);
    expect(budget.usage()).toMatchObject({ calls: 0, keys: 0 });
  });
});
