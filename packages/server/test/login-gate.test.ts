/**
 * The main thread's limiter as a worker sees it: admit and settle over a real
 * MessageChannel, counted against the address the main thread gives, refused once the
 * channel is gone.
 */
import { MessageChannel } from 'node:worker_threads';
import { LoginLimiter } from '@keyway/secure';
import { describe, expect, it } from 'vitest';
import { PortLoginGate, serveLoginGate } from '../src/login-gate.js';

const limits = {
  perUser: { freeFailures: 1, baseDelayMs: 600_000, maxDelayMs: 600_000 },
  perSource: { freeFailures: 100 },
};

describe('PortLoginGate / serveLoginGate', () => {
  it('admits and counts in the main thread; a success refunds; the worker cannot pick the source', async () => {
    const limiter = new LoginLimiter(limits);
    const { port1, port2 } = new MessageChannel();
    serveLoginGate(port1, limiter, '192.0.2.7');
    const gate = new PortLoginGate(port2);
    const first = await gate.admit('alice', 'ignored');
    expect(first.allowed).toBe(true);
    if (first.allowed) first.settle(true);
    // The settlement travels as a message: wait until the main side has applied it.
    await new Promise((r) => setTimeout(r, 20));
    const [a, b, c] = await Promise.all([
      gate.admit('alice', 'x'),
      gate.admit('alice', 'y'),
      gate.admit('alice', 'z'),
    ]);
    expect([a.allowed, b.allowed, c.allowed]).toEqual([true, true, false]);
    expect(limiter.check('bob', '192.0.2.7').allowed).toBe(true);
    expect(limiter.tracked.sources).toBe(1);
    gate.close();
    port1.close();
  });

  it('refuses pending and later attempts once the channel closes', async () => {
    const limiter = new LoginLimiter(limits);
    const { port1, port2 } = new MessageChannel();
    const gate = new PortLoginGate(port2);
    const pending = gate.admit('alice', 'x'); // nobody serves port1 yet
    port1.close();
    await expect(pending).resolves.toMatchObject({ allowed: false });
    await expect(gate.admit('alice', 'x')).resolves.toMatchObject({ allowed: false });
    expect(limiter.tracked.users).toBe(0);
  });
});
