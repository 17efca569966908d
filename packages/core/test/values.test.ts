import { describe, expect, it } from 'vitest';
import { connectTransport } from '../src/connection.js';
import { memoryTransportPair } from '../src/memory-transport.js';
import type { Remote } from '../src/remote.js';
import { byRef, Service } from '../src/service.js';
import { connectionPair, TRANSPORTS } from './helpers.js';

class Counter {
  #n = 0;
  increment() {
    return ++this.#n;
  }
}

class Echo extends Service {
  kept: unknown;
  echo<T>(value: T): T {
    return value;
  }
  keep(value: unknown) {
    this.kept = value;
    return true;
  }
  isKept(value: unknown) {
    return value === this.kept;
  }
  protoOf(value: object) {
    return Object.getPrototypeOf(value) === null;
  }
  counter() {
    return new Counter();
  }
  sameCounter = new Counter();
  theSame() {
    return this.sameCounter;
  }
  wrapped() {
    return byRef({ label: 'w', hello: () => 'hi' });
  }
  keys(value: object) {
    return Object.keys(value);
  }
}

for (const kind of TRANSPORTS) {
  describe(`values by value over ${kind}`, () => {
    it('round-trip primitives, bigint, undefined, Date, bytes, arrays, objects, Map, Set, Error', async () => {
      const { client } = await connectionPair(kind, { service: Echo });
      const echo = client.root as Remote<Echo>;
      const values: unknown[] = [
        null,
        true,
        0,
        -1.5,
        2 ** 53 - 1,
        'héllo',
        5n,
        -(2n ** 100n),
        undefined,
        new Date(1_700_000_000_123),
        Uint8Array.of(1, 2, 3),
        [1, [2, [3, undefined]], 'x'],
        { a: 1, b: { c: [null] } },
        new Map<unknown, unknown>([
          [1, 'one'],
          ['k', new Set([1, 2])],
        ]),
        new Float64Array([1.5, 2.5]),
      ];
      for (const v of values) expect(await echo.echo(v)).toEqual(v);
      const error = (await echo.echo(new RangeError('bad', { cause: 'why' }))) as Error;
      expect(error).toBeInstanceOf(Error);
      expect(error.name).toBe('RangeError');
      expect(error.message).toBe('bad');
      expect(error.cause).toBe('why');
    });

    it('plain objects arrive with a null prototype; __proto__ keys stay harmless data', async () => {
      const { client } = await connectionPair(kind, { service: Echo });
      const echo = client.root as Remote<Echo>;
      expect(await echo.protoOf({ a: 1 })).toBe(true);
      const hostile = JSON.parse('{"__proto__": {"polluted": true}, "x": 1}') as object;
      const back = (await echo.echo(hostile)) as Record<string, unknown>;
      expect(Object.getPrototypeOf(back)).toBeNull();
      expect(Object.keys(back)).toEqual(['__proto__', 'x']);
      // biome-ignore lint/suspicious/noProto: this test is about the __proto__ key itself.
      expect(Object.getPrototypeOf(back.__proto__)).toBeNull();
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      expect(await echo.keys(hostile)).toEqual(['__proto__', 'x']);
    });

    it('refuses values that cannot cross, with a TypeError on the caller', async () => {
      const { client } = await connectionPair(kind, { service: Echo });
      const echo = client.root as Remote<Echo>;
      await expect(Promise.resolve(echo.echo(Symbol('s')))).rejects.toBeInstanceOf(TypeError);
      await expect(Promise.resolve(echo.echo(Promise.resolve(1)))).rejects.toBeInstanceOf(
        TypeError,
      );
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      await expect(Promise.resolve(echo.echo(cyclic))).rejects.toThrow(/too deeply|cycle/);
    });
  });

  describe(`values by reference over ${kind}`, () => {
    it('class instances and byRef objects travel as references', async () => {
      const { client } = await connectionPair(kind, { service: Echo });
      const echo = client.root as Remote<Echo>;
      const counter = await echo.counter();
      expect(await counter.increment()).toBe(1);
      expect(await counter.increment()).toBe(2);
      const wrapped = (await echo.wrapped()) as unknown as Remote<{
        label: string;
        hello(): string;
      }>;
      expect(await wrapped.hello()).toBe('hi');
      expect(await wrapped.label).toBe('w');
    });

    it('the same remote object received twice is the same stub', async () => {
      const { client } = await connectionPair(kind, { service: Echo });
      const echo = client.root as Remote<Echo>;
      const a = await echo.theSame();
      const b = await echo.theSame();
      expect(a === b).toBe(true);
    });

    it('a reference sent back to its owner arrives as the original object', async () => {
      const { server, client } = await connectionPair(kind, { service: Echo });
      const echo = client.root as Remote<Echo>;
      const counter = await echo.theSame();
      expect(await echo.keep(counter)).toBe(true);
      expect((server.service as Echo).kept).toBe((server.service as Echo).sameCounter);
      // And a local object sent out and back comes home as itself.
      const local = new Counter();
      expect((await echo.echo(local)) === local).toBe(true);
      const fn = () => 1;
      expect((await echo.echo(fn)) === fn).toBe(true);
    });

    it('identity is kept across hops: A -> B -> C and back to A', async () => {
      const secret = new Counter();
      class Owner extends Service {
        get() {
          return secret;
        }
        isSecret(x: unknown) {
          return x === secret;
        }
      }
      // A serves Owner to B. B serves Relay to C, handing out the stub it holds for A's object.
      const [ab1, ab2] = memoryTransportPair();
      const [, bToA] = await Promise.all([
        connectTransport(ab1, { service: Owner }),
        connectTransport(ab2),
      ]);
      const owner = bToA.root as Remote<Owner>;
      const onB = await owner.get();
      class Relay extends Service {
        held = onB;
        give() {
          return this.held;
        }
        isHeld(x: unknown) {
          return x === this.held;
        }
        askOwner(x: unknown) {
          return owner.isSecret(x);
        }
      }
      const [bc1, bc2] = memoryTransportPair();
      const [, cToB] = await Promise.all([
        connectTransport(bc1, { service: Relay }),
        connectTransport(bc2),
      ]);
      const relay = cToB.root as Remote<Relay>;
      const onC = (await relay.give()) as unknown as Remote<Counter>;
      // C calls through B to A.
      expect(await onC.increment()).toBe(1);
      expect(await onC.increment()).toBe(2);
      // Back at B it is B's own stub; back at A it is the original object.
      expect(await relay.isHeld(onC)).toBe(true);
      expect(await relay.askOwner(onC)).toBe(true);
      expect(secret.increment()).toBe(3);
    });
  });
}

describe('the root as a value', () => {
  it('a service that returns itself gives the caller its root stub', async () => {
    class Self extends Service {
      me() {
        return this;
      }
    }
    const { client } = await connectionPair('memory', { service: Self });
    const me = await (client.root as Remote<Self>).me();
    expect((me as unknown) === client.root).toBe(true);
  });
});
