/**
 * Results are never thenable on arrival: a peer cannot take over the caller's `await` by
 * returning an object whose `then` is callable (a function it sends by reference, one of
 * the caller's own functions coming home, its root stub...), nor by answering with a
 * pending value of the caller's own, which would outlive the call's timeout. Dropped
 * references are released, so the owner's export table returns to zero.
 */
// biome-ignore-all lint/suspicious/noThenProperty: thenable values are what this file tests.
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { type Connection, connectTransport } from '../src/connection.js';
import { ProtocolError } from '../src/errors.js';
import { currentCall, Service } from '../src/index.js';
import { memoryTransportPair } from '../src/memory-transport.js';
import type { Remote } from '../src/remote.js';
import { connectionPair, waitFor } from './helpers.js';

/** What a hijacked `await` gives instead of a value: it never settles, so race a guard. */
const HUNG = Symbol('hung');

async function settledWithin<T>(value: PromiseLike<T>, ms: number): Promise<T | typeof HUNG> {
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<typeof HUNG>((resolve) => {
    timer = setTimeout(() => resolve(HUNG), ms);
  });
  try {
    return await Promise.race([value, guard]);
  } finally {
    clearTimeout(timer);
  }
}

function thenOf(value: unknown): unknown {
  return (value as { then?: unknown }).then;
}

class ClientSide extends Service {
  called = 0;
  poke() {
    this.called++;
  }
}

class Hijacker extends Service {
  thenable() {
    return { then() {} };
  }
  nested() {
    return {
      inner: { then() {} },
      list: [{ then: () => {} }],
      map: new Map([['k', { then() {} }]]),
    };
  }
  selfAsThen() {
    return { then: this };
  }
  sameTwice() {
    const f = () => 1;
    return { then: f, keep: f };
  }
  data() {
    return { then: 'later', other: 1 };
  }
  withCause() {
    return new Error('by value', { cause: { then() {} } });
  }
  throwWithCause() {
    throw new Error('thrown', { cause: { then() {} } });
  }
  callbackAsThen(callback: () => void) {
    return { then: callback };
  }
  clientMethodAsThen() {
    // A path on the caller's own root comes home as the caller's bound method.
    return { then: (currentCall().connection.root as Remote<ClientSide>).poke };
  }
  fn() {
    return () => 1;
  }
  obj() {
    return new ClientSide();
  }
}

const TRANSPORTS = ['memory', 'tcp'] as const;

for (const kind of TRANSPORTS) {
  describe(`regression: a returned \`then\` no longer hijacks the caller's await (${kind})`, () => {
    async function pair() {
      const client = new ClientSide();
      const { server, client: conn } = await connectionPair(
        kind,
        { service: Hijacker },
        { service: client, timeout: 2_000 },
      );
      return { server, conn, api: conn.root as Remote<Hijacker>, local: client };
    }

    it('{ then() {} } arrives without a callable then, and its reference is released', async () => {
      const { server, api } = await pair();
      const value = await settledWithin(api.thenable(), 4_000);
      expect(value).not.toBe(HUNG);
      expect(typeof thenOf(value)).not.toBe('function');
      await waitFor(() => server.stats().exports === 0);
    });

    it('at any depth: nested objects, array items, Map values', async () => {
      const { server, api } = await pair();
      const value = (await settledWithin(api.nested(), 4_000)) as {
        inner: unknown;
        list: unknown[];
        map: Map<string, unknown>;
      };
      expect(typeof thenOf(value.inner)).not.toBe('function');
      expect(typeof thenOf(value.list[0])).not.toBe('function');
      expect(typeof thenOf(value.map.get('k'))).not.toBe('function');
      await waitFor(() => server.stats().exports === 0);
    });

    it('the peer root sent as then (a callable stub that is never released)', async () => {
      const { api } = await pair();
      const value = await settledWithin(api.selfAsThen(), 4_000);
      expect(value).not.toBe(HUNG);
      expect(typeof thenOf(value)).not.toBe('function');
    });

    it('one reference received twice: the dropped receipt is released, the kept stub works', async () => {
      const { server, api } = await pair();
      const value = (await settledWithin(api.sameTwice(), 4_000)) as { keep: () => number };
      expect(typeof thenOf(value)).not.toBe('function');
      expect(await value.keep()).toBe(1);
      expect(server.stats().exports).toBe(1);
    });

    it('a then that is not callable arrives as data', async () => {
      const { api } = await pair();
      expect(await api.data()).toEqual({ then: 'later', other: 1 });
    });

    it('error causes, returned by value and thrown', async () => {
      const { server, api } = await pair();
      const returned = (await settledWithin(api.withCause(), 4_000)) as Error;
      expect(returned).toBeInstanceOf(Error);
      expect(typeof thenOf(returned.cause)).not.toBe('function');
      const thrown = (await Promise.resolve(api.throwWithCause()).catch(
        (e: unknown) => e,
      )) as Error;
      expect(thrown.message).toBe('thrown');
      expect(typeof thenOf(thrown.cause)).not.toBe('function');
      await waitFor(() => server.stats().exports === 0);
    });

    it("the caller's own function coming home as then is not called", async () => {
      const { api } = await pair();
      let calls = 0;
      const value = await settledWithin(
        api.callbackAsThen(() => {
          calls++;
        }),
        4_000,
      );
      expect(value).not.toBe(HUNG);
      expect(typeof thenOf(value)).not.toBe('function');
      expect(calls).toBe(0);
    });

    it("the caller's own method coming home (a path) as then is not called", async () => {
      const { api, local } = await pair();
      const value = await settledWithin(api.clientMethodAsThen(), 4_000);
      expect(value).not.toBe(HUNG);
      expect(typeof thenOf(value)).not.toBe('function');
      expect(local.called).toBe(0);
    });

    it('stubs of returned functions and objects are not thenable', async () => {
      const { api, conn } = await pair();
      const fn = await settledWithin(api.fn(), 4_000);
      const obj = await settledWithin(api.obj(), 4_000);
      expect(thenOf(fn)).toBeUndefined();
      expect(thenOf(obj)).toBeUndefined();
      // Awaiting them again resolves at once to the same stub and asks the peer nothing.
      const before = conn.stats().requestsSent;
      expect(await Promise.resolve(fn)).toBe(fn);
      expect(await Promise.resolve(obj)).toBe(obj);
      expect(conn.stats().requestsSent).toBe(before);
    });
  });
}

const raw = new Packr({ useRecords: false, useBigIntExtension: true });

/**
 * A scripted peer whose replies the test writes: it says hello, and hands each request
 * the victim sends to `onRequest`.
 */
async function scriptedPeer(onRequest: (m: unknown[], send: (m: unknown[]) => void) => void) {
  const [a, b] = memoryTransportPair();
  const send = (m: unknown[]) => b.send(raw.pack(m));
  b.start({
    onMessage: (bytes) => {
      const m = raw.unpack(bytes) as unknown[];
      if (m[0] === 1) onRequest(m, send);
    },
    onClose: () => {},
  });
  send([0, 'keyway-rpc', 1]);
  class Victim extends Service {
    hang() {
      return new Promise(() => {});
    }
  }
  const victim: Connection = await connectTransport(a, { service: Victim, timeout: 1_000 });
  return { victim, send };
}

describe("regression: a reply that is the caller's own pending value", () => {
  it('a top-level pipelined answer in a RESOLVE fails the call, it does not outlive the timeout', async () => {
    const { victim } = await scriptedPeer((m, send) => {
      // Ask the victim something that never settles (qid 1), then answer the victim's
      // call with a reference to that pending answer.
      send([1, 1, 3, 0, 0, ['hang'], [], 0]);
      send([2, m[1], [7, 1]]);
    });
    const outcome = await settledWithin(
      Promise.resolve((victim.root as Remote<{ anything(): unknown }>).anything()).catch(
        (e: unknown) => e,
      ),
      4_000,
    );
    expect(outcome).toBeInstanceOf(ProtocolError);
    expect(await victim.closed).toBeInstanceOf(ProtocolError);
  });
});
