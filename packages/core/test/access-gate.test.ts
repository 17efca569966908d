import { describe, expect, it } from 'vitest';
import { access, DEFAULT_ACCESS_POLICY, Operation } from '../src/access-gate.js';
import { deleteRemote, setRemote } from '../src/connection.js';
import { AccessDeniedError } from '../src/errors.js';
import type { Remote } from '../src/remote.js';
import { byRef, Service } from '../src/service.js';
import { connectionPair } from './helpers.js';

const SYMBOL_KEY: unique symbol = Symbol('s');

class Base {
  inherited() {
    return 'inherited';
  }
}
class Thing extends Base {
  #hidden = 'hash';
  _private = 'underscore';
  field = 'own field';
  [SYMBOL_KEY] = 'symbol';
  disposed = false;
  method() {
    return 'method';
  }
  get computed() {
    return 'getter';
  }
  #level = 1;
  get level() {
    return this.#level;
  }
  set level(v: number) {
    this.#level = v;
  }
  _helper() {
    return this.#hidden;
  }
  [Symbol.dispose]() {
    this.disposed = true;
  }
  *[Symbol.iterator]() {
    yield 1;
    yield 2;
  }
}

const P = DEFAULT_ACCESS_POLICY;
const ALL = {
  allowPublicAttrs: true,
  allowSetAttrs: true,
  allowDeleteAttrs: true,
  disposeOnRelease: true,
};

describe('the access gate, operation by operation', () => {
  it('get: prototype methods and getters of the class chain; nothing else by default', () => {
    const t = new Thing();
    expect((access(Operation.Get, t, 'method', P) as () => string)()).toBe('method');
    expect((access(Operation.Get, t, 'inherited', P) as () => string)()).toBe('inherited');
    expect(access(Operation.Get, t, 'method', P)).toBe(access(Operation.Get, t, 'method', P));
    expect(access(Operation.Get, t, 'computed', P)).toBe('getter');
    expect(() => access(Operation.Get, t, 'field', P)).toThrow(AccessDeniedError);
    expect(access(Operation.Get, t, 'field', { ...P, allowPublicAttrs: true })).toBe('own field');
    for (const name of [
      '_private',
      '_helper',
      '#hidden',
      'constructor',
      'prototype',
      '__proto__',
      'then',
      'toString',
      'hasOwnProperty',
      '__defineGetter__',
      'valueOf',
      'call',
      'apply',
      'bind',
      '',
      'missing',
    ]) {
      expect(() => access(Operation.Get, t, name, ALL), name).toThrow(AccessDeniedError);
    }
    expect(() => access(Operation.Get, t, SYMBOL_KEY as unknown as string, ALL)).toThrow(
      AccessDeniedError,
    );
  });

  it('call: public methods only; the holder itself only when it is a function', () => {
    const t = new Thing();
    expect(access(Operation.Call, t, 'method', P, [])).toBe('method');
    expect(() => access(Operation.Call, t, 'constructor', P, [])).toThrow(AccessDeniedError);
    expect(() => access(Operation.Call, t, '_helper', P, [])).toThrow(AccessDeniedError);
    expect(() => access(Operation.Call, t, undefined, P, [])).toThrow(AccessDeniedError);
    expect(() => access(Operation.Call, t, 'computed', P, [])).toThrow(/not a function/);
    expect(access(Operation.Call, (a: number) => a * 2, undefined, P, [21])).toBe(42);
    // A function exposes no members: no .call/.bind/.constructor walks.
    expect(() => access(Operation.Get, () => 1, 'name', ALL)).toThrow(AccessDeniedError);
  });

  it('set: denied unless allowed; then setters and own fields only', () => {
    const t = new Thing();
    expect(() => access(Operation.Set, t, 'level', P, [5])).toThrow(AccessDeniedError);
    const allowSet = { ...P, allowSetAttrs: true };
    access(Operation.Set, t, 'level', allowSet, [5]);
    expect(t.level).toBe(5);
    access(Operation.Set, t, 'field', allowSet, ['changed']);
    expect(t.field).toBe('changed');
    expect(() => access(Operation.Set, t, 'method', allowSet, [0])).toThrow(AccessDeniedError);
    expect(() => access(Operation.Set, t, 'computed', allowSet, [0])).toThrow(AccessDeniedError);
    expect(() => access(Operation.Set, t, '__proto__', allowSet, [{}])).toThrow(AccessDeniedError);
    expect(() => access(Operation.Set, t, '_private', allowSet, [0])).toThrow(AccessDeniedError);
    expect(Object.getPrototypeOf(t)).toBe(Thing.prototype);
  });

  it('delete: denied unless allowed; then own configurable properties only', () => {
    const t = new Thing();
    expect(() => access(Operation.Delete, t, 'field', P)).toThrow(AccessDeniedError);
    const allowDelete = { ...P, allowDeleteAttrs: true };
    access(Operation.Delete, t, 'field', allowDelete);
    expect(Object.hasOwn(t, 'field')).toBe(false);
    expect(() => access(Operation.Delete, t, 'method', allowDelete)).toThrow(AccessDeniedError);
  });

  it('iterate: only through the fixed iterator protocol', () => {
    const it = access(Operation.Iterate, new Thing(), undefined, P) as Iterator<number>;
    expect(it.next()).toEqual({ value: 1, done: false });
    expect(() => access(Operation.Iterate, {}, undefined, P)).toThrow(AccessDeniedError);
    expect(() => access(Operation.Iterate, new Thing(), 'method', P)).toThrow(AccessDeniedError);
  });

  it('dispose: calls Symbol.dispose when present, nothing otherwise', () => {
    const t = new Thing();
    access(Operation.Dispose, t, undefined, P);
    expect(t.disposed).toBe(true);
    expect(access(Operation.Dispose, {}, undefined, P)).toBeUndefined();
  });

  it('an unknown operation number is refused', () => {
    expect(() => access(9 as Operation, new Thing(), 'method', P)).toThrow(AccessDeniedError);
  });

  it('byRef objects expose their own public properties', () => {
    const o = byRef({ label: 'x', hello: () => 'hi', _no: 1 });
    expect(access(Operation.Get, o, 'label', P)).toBe('x');
    expect(access(Operation.Call, o, 'hello', P, [])).toBe('hi');
    expect(() => access(Operation.Get, o, '_no', P)).toThrow(AccessDeniedError);
  });
});

class Api extends Service {
  touched = false;
  thing = new Thing();
  getThing() {
    return this.thing;
  }
  echo(x: unknown) {
    return x;
  }
}

describe('the access gate over the wire', () => {
  it('constructor.constructor walks fail with AccessDeniedError and leave the owner untouched', async () => {
    const { server, client } = await connectionPair('memory', { service: Api });
    const root = client.root as unknown as Record<string, Record<string, (s: string) => unknown>>;
    const attempt = root.constructor!.constructor!('return process') as Promise<unknown>;
    await expect(Promise.resolve(attempt)).rejects.toBeInstanceOf(AccessDeniedError);
    const viaMethod = (
      client.root as unknown as Record<
        string,
        Record<string, Record<string, (s: string) => unknown>>
      >
    ).getThing!.constructor!.constructor!('return 1') as Promise<unknown>;
    await expect(Promise.resolve(viaMethod)).rejects.toBeInstanceOf(AccessDeniedError);
    // biome-ignore lint/suspicious/noProto: this test is about the __proto__ key itself.
    const viaProto = (client.root as unknown as Record<string, Record<string, unknown>>).__proto__!
      .polluted as Promise<unknown>;
    await expect(Promise.resolve(viaProto)).rejects.toBeInstanceOf(AccessDeniedError);
    await expect(
      Promise.resolve(
        (client.root as unknown as Record<string, Record<string, () => unknown>>).echo!.call!(),
      ),
    ).rejects.toBeInstanceOf(AccessDeniedError);
    expect((server.service as Api).touched).toBe(false);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('get, call, set, delete, iterate and dispose from the peer all pass the gate', async () => {
    const { server, client } = await connectionPair('memory', { service: Api });
    const api = client.root as Remote<Api>;
    const thing = await api.getThing();
    expect(await thing.method()).toBe('method');
    expect(await thing.computed).toBe('getter');
    await expect(Promise.resolve(thing.field)).rejects.toBeInstanceOf(AccessDeniedError);
    await expect(Promise.resolve(setRemote(thing.level, 9))).rejects.toBeInstanceOf(
      AccessDeniedError,
    );
    await expect(Promise.resolve(deleteRemote(thing.field))).rejects.toBeInstanceOf(
      AccessDeniedError,
    );
    const items: unknown[] = [];
    for await (const x of thing as unknown as AsyncIterable<unknown>) items.push(x);
    expect(items).toEqual([1, 2]);
    expect((server.service as Api).thing.level).toBe(1);
  });

  it('options open set and delete for the peer', async () => {
    const { server, client } = await connectionPair('memory', { service: Api, ...ALL });
    const api = client.root as Remote<Api>;
    const thing = await api.getThing();
    await setRemote(thing.level, 9);
    expect((server.service as Api).thing.level).toBe(9);
    expect(await thing.field).toBe('own field');
    await deleteRemote(thing.field);
    expect(Object.hasOwn((server.service as Api).thing, 'field')).toBe(false);
    await expect(
      // biome-ignore lint/suspicious/noProto: this test is about the __proto__ key itself.
      Promise.resolve(setRemote((thing as unknown as Record<string, unknown>).__proto__, {})),
    ).rejects.toBeInstanceOf(AccessDeniedError);
  });

  it('a remote object stub is never thenable; awaiting it asks nothing of the peer', async () => {
    const { client } = await connectionPair('memory', { service: Api });
    const thing = await (client.root as Remote<Api>).getThing();
    expect((thing as unknown as { then?: unknown }).then).toBeUndefined();
    expect((client.root as unknown as { then?: unknown }).then).toBeUndefined();
    expect((await Promise.resolve(thing)) === thing).toBe(true);
    expect(client.stats().questions).toBe(0);
  });
});

describe('stubs stay local for conversions', () => {
  it('String(), template literals, JSON and inspect never send a request', async () => {
    const { inspect } = await import('node:util');
    const { client } = await connectionPair('memory', { service: Api });
    const thing = await (client.root as Remote<Api>).getThing();
    const before = client.stats().requestsSent;
    expect(String(thing)).toMatch(/^\[RemoteStub ref#\d+\]$/);
    expect(`${client.root as object}`).toBe('[RemoteStub ref#0]');
    expect(JSON.stringify({ thing })).toBe('{}');
    expect(inspect(thing)).toMatch(/RemoteStub/);
    expect(client.stats().requestsSent).toBe(before);
  });
});

describe('regression: pipelining into a result sent by copy', () => {
  it("cannot call built-in methods on the owner's live Map, Set, Date or bytes", async () => {
    class Store extends Service {
      cache = new Map([['k', 1]]);
      tags = new Set(['a']);
      when = new Date(1_000);
      bytes = Uint8Array.of(1, 2, 3);
      getCache() {
        return this.cache;
      }
      getTags() {
        return this.tags;
      }
      getWhen() {
        return this.when;
      }
      getBytes() {
        return this.bytes;
      }
    }
    const { server, client } = await connectionPair('memory', { service: Store });
    const store = client.root as unknown as Record<
      string,
      () => Record<string, (...a: unknown[]) => Promise<unknown>>
    >;
    const attempts = [
      store.getCache!().clear!(),
      store.getCache!().set!('k', 2),
      store.getTags!().add!('b'),
      store.getWhen!().setTime!(0),
      store.getBytes!().fill!(0),
    ];
    for (const attempt of attempts)
      await expect(Promise.resolve(attempt)).rejects.toBeInstanceOf(AccessDeniedError);
    const s = server.service as Store;
    expect([...s.cache]).toEqual([['k', 1]]);
    expect([...s.tags]).toEqual(['a']);
    expect(s.when.getTime()).toBe(1_000);
    expect([...s.bytes]).toEqual([1, 2, 3]);
    // The copies themselves arrive intact.
    expect(await store.getCache!()).toEqual(new Map([['k', 1]]));
  });
});

class Switchable {
  run() {
    return 'ran';
  }
  get mode() {
    return 'class getter';
  }
}

describe('regression: the gate resolves the function JavaScript would, now', () => {
  const EXPOSED = { ...P, allowPublicAttrs: true };
  const disabled = () => {
    throw new Error('disabled');
  };

  it('an own override shadows the class method when own members are exposed (get and call)', () => {
    const t = new Switchable() as Switchable & Record<string, unknown>;
    t.run = disabled;
    expect(() => access(Operation.Call, t, 'run', EXPOSED, [])).toThrow('disabled');
    expect(() => (access(Operation.Get, t, 'run', EXPOSED) as () => unknown)()).toThrow('disabled');
    // The same through byRef, which exposes own members without the policy flag.
    const marked = byRef(new Switchable()) as Switchable & Record<string, unknown>;
    marked.run = disabled;
    expect(() => access(Operation.Call, marked, 'run', P, [])).toThrow('disabled');
    // An own data property shadows a class getter too.
    Object.defineProperty(t, 'mode', { value: 'own', enumerable: true });
    expect(access(Operation.Get, t, 'mode', EXPOSED)).toBe('own');
  });

  it('with own members hidden, a shadowed class member is denied, never run silently', () => {
    const t = new Switchable() as Switchable & Record<string, unknown>;
    t.run = disabled;
    expect(() => access(Operation.Call, t, 'run', P, [])).toThrow(AccessDeniedError);
    expect(() => access(Operation.Get, t, 'run', P)).toThrow(AccessDeniedError);
    // list names only what get and call reach.
    expect(access(Operation.List, t, undefined, P)).toEqual(['mode']);
    // Without the override the class method is served as before.
    expect(access(Operation.Call, new Switchable(), 'run', P, [])).toBe('ran');
  });

  it('a reassigned member is read afresh; an unchanged one keeps its identity', () => {
    const o = byRef<{ handler: () => number }>({ handler: () => 1 });
    const first = access(Operation.Get, o, 'handler', P) as () => number;
    expect(first()).toBe(1);
    expect(access(Operation.Get, o, 'handler', P)).toBe(first);
    o.handler = () => 2;
    expect((access(Operation.Get, o, 'handler', P) as () => number)()).toBe(2);
    expect(access(Operation.Call, o, 'handler', P, [])).toBe(2);
    // A class method replaced on the prototype is read afresh as well.
    class Versioned {
      v() {
        return 'old';
      }
    }
    const x = new Versioned();
    expect((access(Operation.Get, x, 'v', P) as () => string)()).toBe('old');
    Versioned.prototype.v = () => 'new';
    expect((access(Operation.Get, x, 'v', P) as () => string)()).toBe('new');
  });

  it('over the wire: a per-instance kill switch and a swapped handler are honoured', async () => {
    class Panel extends Service {
      switchable = new Switchable();
      hooks = byRef<{ handler: () => string }>({ handler: () => 'first' });
      getSwitchable() {
        return this.switchable;
      }
    }
    for (const allowPublicAttrs of [true, false]) {
      const { server, client } = await connectionPair('memory', {
        service: Panel,
        allowPublicAttrs,
      });
      const panel = server.service as Panel;
      const api = client.root as Remote<Panel>;
      const remote = await api.getSwitchable();
      expect(await remote.run()).toBe('ran');
      (panel.switchable as Switchable & Record<string, unknown>).run = disabled;
      const refused = await Promise.resolve(remote.run()).catch((e: unknown) => e);
      if (allowPublicAttrs) expect(refused).toMatchObject({ message: 'disabled' });
      else expect(refused).toBeInstanceOf(AccessDeniedError);
      const viaPath = client.root as unknown as {
        hooks: { handler: (() => Promise<string>) & PromiseLike<() => Promise<string>> };
      };
      if (allowPublicAttrs) {
        expect(await viaPath.hooks.handler()).toBe('first');
        const got = await viaPath.hooks.handler;
        expect(await got()).toBe('first');
        panel.hooks.handler = () => 'second';
        expect(await viaPath.hooks.handler()).toBe('second');
        expect(await (await viaPath.hooks.handler)()).toBe('second');
      }
      await client.close();
    }
  });
});
