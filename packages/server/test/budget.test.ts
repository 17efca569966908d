/**
 * The server-wide budget: a server creates one and charges every connection to its peer's
 * identity, so many connections of one client hit that identity's share (their calls fail
 * with ERR_LIMIT_EXCEEDED, their connections stay open) while another client still works.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type Connection, LimitExceededError, type Remote, SharedBudget } from '@keyway/core';
import { type Credentials, publicKeyAuth } from '@keyway/secure';
// Pool workers load built JavaScript, so the pool server comes from the built package.
import { ThreadPoolServer } from '@keyway/server';
import { afterEach, describe, expect, it } from 'vitest';
import { budgetKeyOf, workerBudgetLimits } from '../src/budget.js';
import { connect, ThreadedServer } from '../src/index.js';
import { alice, authorizedKeys, hostKey, keyFiles, knownHosts, Lab, mallory } from './helpers.js';

type LabApi = Remote<Lab>;
const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

async function login(port: number, identity = alice): Promise<{ conn: Connection; lab: LabApi }> {
  const conn = await connect('127.0.0.1', port, { identity, knownHosts: knownHosts(port) });
  closers.push(() => conn.close());
  return { conn, lab: conn.root as LabApi };
}

async function waitFor(predicate: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Starts `count` calls; errors of those that fail go into `errors`. */
function fire(count: number, call: () => Promise<unknown>, errors: unknown[]): void {
  for (let i = 0; i < count; i++) call().catch((error) => errors.push(error));
}

function expectOverBudget(errors: unknown[]): void {
  for (const error of errors) {
    expect(error).toBeInstanceOf(LimitExceededError);
    expect((error as LimitExceededError).code).toBe('ERR_LIMIT_EXCEEDED');
  }
}

async function start(budget: ConstructorParameters<typeof ThreadedServer>[1]['budget']) {
  const server = new ThreadedServer(Lab, {
    authenticator: publicKeyAuth({
      identity: hostKey,
      authorizedKeys: authorizedKeys(alice, mallory),
    }),
    budget,
  });
  closers.push(() => server.close(0));
  const address = await server.listen();
  return { server, port: (address as { port: number }).port };
}

describe('ThreadedServer budget', () => {
  it('many connections of one key hit its share of pending calls; another key still works', async () => {
    const { server, port } = await start({ maxCalls: 40, share: 0.5 });
    const budget = server.budget as SharedBudget;
    const connections = await Promise.all([1, 2, 3].map(() => login(port, mallory)));
    const refused: unknown[] = [];
    for (const { lab } of connections) fire(20, () => lab.sleep(30_000), refused);
    await waitFor(() => refused.length === 40);
    expectOverBudget(refused);
    expect(budget.usage().calls).toBe(20);
    for (const { conn } of connections) expect(conn.isClosed).toBe(false);

    const honest = await login(port, alice);
    expect(await honest.lab.add(1, 2)).toBe(3);
    const slow = honest.lab.sleep(20);
    expect(await slow).toBe(20);
    // Mallory's own connections keep working once their calls end.
    await Promise.all(connections.map(({ conn }) => conn.close()));
    await waitFor(() => budget.usage().calls === 0);
    const again = await login(port, mallory);
    expect(await again.lab.add(2, 2)).toBe(4);
  });

  it('live references are shared too: exports past the share are refused per call', async () => {
    const { server, port } = await start({ maxReferences: 20, share: 0.5 });
    const connections = await Promise.all([1, 2].map(() => login(port, mallory)));
    const kept: unknown[] = [];
    const refused: unknown[] = [];
    for (const { lab } of connections)
      for (let i = 0; i < 8; i++)
        lab.open(`c${i}`).then(
          (counter) => kept.push(counter),
          (error) => refused.push(error),
        );
    await waitFor(() => kept.length + refused.length === 16);
    expect(kept.length).toBe(10);
    expectOverBudget(refused);
    const honest = await login(port, alice);
    expect(await (await honest.lab.open('mine')).increment()).toBe(1);
    expect((server.budget as SharedBudget).usage().references).toBe(11);
  });

  it('a budget object may be shared by several servers', async () => {
    const shared = new SharedBudget({ maxCalls: 10, share: 1 });
    const a = await start(shared);
    const b = await start(shared);
    expect(a.server.budget).toBe(shared);
    const refused: unknown[] = [];
    fire(6, async () => (await login(a.port, mallory)).lab.sleep(30_000), refused);
    fire(6, async () => (await login(b.port, alice)).lab.sleep(30_000), refused);
    await waitFor(() => refused.length === 2);
    expectOverBudget(refused);
    expect(shared.usage().calls).toBe(10);
  });

  it('checks the option', () => {
    expect(
      () =>
        new ThreadedServer(class {}, {
          authenticator: publicKeyAuth({ identity: hostKey, authorizedKeys: authorizedKeys() }),
          budget: { maxCalls: -1 },
        }),
    ).toThrow(RangeError);
  });
});

describe('budget keys and pool budgets', () => {
  it('charges a user, else a key, else a source address (IPv6 by /64)', () => {
    const base: Credentials = { remoteAddress: '2001:db8:1:2:3:4:5:6', methods: ['anonymous'] };
    expect(budgetKeyOf(base)).toBe(budgetKeyOf({ ...base, remoteAddress: '2001:db8:1:2::9' }));
    expect(budgetKeyOf(base)).not.toBe(budgetKeyOf({ ...base, remoteAddress: '2001:db8:1:3::9' }));
    const key = { fingerprint: alice.fingerprint, comment: 'alice@lab' };
    expect(budgetKeyOf({ ...base, publicKey: key })).toBe(`key:${alice.fingerprint}`);
    expect(budgetKeyOf({ ...base, publicKey: key, user: 'alice' })).toBe('user:alice');
  });

  it('splits the totals among pool workers and refuses a budget object', () => {
    expect(workerBudgetLimits({ maxCalls: 1000 }, 4)).toEqual({
      maxRequestBytes: 64 * 1024 * 1024,
      maxReferences: 125_000,
      maxCalls: 250,
      share: 0.25,
    });
    expect(() => workerBudgetLimits(new SharedBudget(), 2)).toThrow(TypeError);
  });

  it('ThreadPoolServer: a worker charges its connections to its budget', async () => {
    const files = keyFiles();
    const fixtures = join(import.meta.dirname, 'fixtures');
    const server = new ThreadPoolServer(pathToFileURL(join(fixtures, 'lab-service.mjs')), {
      threads: 1,
      budget: { maxCalls: 20, share: 0.5 },
      authenticator: {
        module: pathToFileURL(join(fixtures, 'lab-auth.mjs')).href,
        options: { hostKeyPath: files.hostKeyPath, authorizedKeysPath: files.authorizedKeysPath },
      },
    });
    closers.push(async () => files.cleanup());
    closers.push(() => server.close(0));
    const { port } = (await server.listen()) as { port: number };
    const connections = await Promise.all([1, 2].map(() => login(port, alice)));
    const refused: unknown[] = [];
    for (const { lab } of connections) fire(10, () => lab.sleep(30_000), refused);
    await waitFor(() => refused.length === 10);
    expectOverBudget(refused);
    await expect(connections[0]!.lab.add(1, 1)).rejects.toThrow(LimitExceededError);
  });
});
