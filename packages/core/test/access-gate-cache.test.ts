/**
 * The gate remembers class members per prototype and name; these tests change what a
 * remembered member depends on after it was served, and check that the gate answers as
 * the full prototype walk does, every time.
 */
import { describe, expect, it } from 'vitest';
import { access, DEFAULT_ACCESS_POLICY, Operation } from '../src/access-gate.js';
import { AccessDeniedError } from '../src/errors.js';
import { byRef, Service } from '../src/service.js';

const P = DEFAULT_ACCESS_POLICY;
const EXPOSED = { ...P, allowPublicAttrs: true };

const call = (holder: object, name: string, policy = P) =>
  access(Operation.Call, holder, name, policy, []);
const get = (holder: object, name: string, policy = P) =>
  access(Operation.Get, holder, name, policy);

describe('the gate serves a remembered class member only while the walk would', () => {
  it('served twice, the same method and the same bound function', () => {
    class A extends Service {
      m() {
        return 'a';
      }
    }
    const a = new A();
    expect(call(a, 'm')).toBe('a');
    expect(call(a, 'm')).toBe('a');
    expect(get(a, 'm')).toBe(get(a, 'm'));
    // Another instance of the same class shares the prototype's record.
    expect(call(new A(), 'm')).toBe('a');
  });

  it('an own property added later shadows it: denied when hidden, served when exposed', () => {
    class A extends Service {
      m() {
        return 'class';
      }
    }
    const a = new A() as A & Record<string, unknown>;
    expect(call(a, 'm')).toBe('class');
    a.m = () => 'own';
    expect(() => call(a, 'm')).toThrow(AccessDeniedError);
    expect(() => get(a, 'm')).toThrow(AccessDeniedError);
    expect(call(a, 'm', EXPOSED)).toBe('own');
    expect(call(byRef(a), 'm')).toBe('own');
  });

  it('a method replaced, deleted or turned into a getter on the prototype', () => {
    class A extends Service {
      m(): string {
        return 'old';
      }
    }
    const a = new A();
    expect(call(a, 'm')).toBe('old');
    A.prototype.m = () => 'new';
    expect(call(a, 'm')).toBe('new');
    let reads = 0;
    Object.defineProperty(A.prototype, 'm', {
      configurable: true,
      get() {
        reads++;
        return () => 'from getter';
      },
    });
    expect(call(a, 'm')).toBe('from getter');
    expect(reads).toBe(1);
    delete (A.prototype as Partial<A>).m;
    expect(() => call(a, 'm')).toThrow(AccessDeniedError);
  });

  it('a name gained by a prototype nearer the instance shadows the remembered one', () => {
    class A extends Service {
      m() {
        return 'a';
      }
    }
    class B extends A {}
    const b = new B();
    expect(call(b, 'm')).toBe('a');
    Object.defineProperty(B.prototype, 'm', { configurable: true, value: () => 'b' });
    expect(call(b, 'm')).toBe('b');
  });

  it('a rewired chain: a member now past a stop is denied', () => {
    class A extends Service {
      m() {
        return 'a';
      }
    }
    class B extends A {}
    const b = new B();
    expect(call(b, 'm')).toBe('a');
    Object.setPrototypeOf(B.prototype, Service.prototype);
    expect(() => call(b, 'm')).toThrow(AccessDeniedError);
    Object.setPrototypeOf(B.prototype, A.prototype);
    expect(call(b, 'm')).toBe('a');
  });

  it('an instance turned into a value sent by copy, or a typed array on a class prototype', () => {
    class A extends Service {
      m() {
        return 'a';
      }
    }
    const a = new A();
    expect(call(a, 'm')).toBe('a');
    const bytes = Object.setPrototypeOf(new Uint8Array(2), A.prototype) as object;
    expect(() => call(bytes, 'm')).toThrow(AccessDeniedError);
    Object.setPrototypeOf(A.prototype, Date.prototype);
    expect(() => call(a, 'm')).toThrow(AccessDeniedError);
  });

  it('names that are never exposed stay denied whatever was served before', () => {
    class A extends Service {
      m() {
        return 'a';
      }
      _hidden() {
        return 'no';
      }
    }
    const a = new A();
    expect(call(a, 'm')).toBe('a');
    expect(() => call(a, '_hidden')).toThrow(AccessDeniedError);
    expect(() => call(a, 'constructor')).toThrow(AccessDeniedError);
    expect(() => call(a, 'onConnect')).toThrow(AccessDeniedError);
  });
});
