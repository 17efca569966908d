/**
 * The one access gate (docs/design.md §3 "Exposure rule"; docs/protocol.md §6). Every
 * operation a peer asks for on a local object — get, set, delete, call, iterate, dispose
 * — is decided and performed here, and nowhere else. Operation kinds are a fixed numeric
 * enum checked with a `switch`; a peer-supplied string is never used to pick code (RPyC
 * CVE-2019-16328).
 *
 * What a peer may reach on a by-reference object: public prototype methods and getters of
 * its class chain, stopping at `Object`, `Function`, `Array`, `Promise` and `Service`,
 * plus own properties when the owner opted in (`allowPublicAttrs`, or the object was
 * marked with `byRef`). The member reached is the one `obj[name]` reads now: an exposed
 * own property shadows the class member, a hidden one makes the name denied, and a method
 * is bound again once the function behind the name changes. Values that travel by copy
 * (plain data, Map, Set, Date, errors, bytes) expose only their own data properties to
 * pipelined reads, never their built-in methods. Never `constructor`, `prototype`,
 * `__proto__`, `then`, the service lifecycle hooks, `_`-prefixed names, symbols or
 * `Object.prototype` members; a function exposes no members at all (no `call`, `bind`,
 * `constructor`), it can only be called. `#private` fields are unreachable by the
 * language itself.
 */
import { AccessDeniedError, KeywayError } from './errors.js';
import { isByRef, Service } from './service.js';

/** The operations a peer can ask for. Fixed; the wire carries these numbers. */
export const Operation = Object.freeze({
  Get: 0,
  Set: 1,
  Delete: 2,
  Call: 3,
  Iterate: 4,
  Dispose: 5,
  /** Names the members the peer may reach (for completion in a shell, like RPyC's dir). */
  List: 6,
} as const);
/** One of {@link Operation}. */
export type Operation = (typeof Operation)[keyof typeof Operation];

const OPERATION_NAMES = ['get', 'set', 'delete', 'call', 'iterate', 'dispose', 'list'] as const;

/** What the owner allows the peer to do beyond calling public methods. */
export interface AccessPolicy {
  /** Expose own (instance) properties of by-reference objects. Default `false`. */
  allowPublicAttrs: boolean;
  /** Allow the peer to assign public properties. Default `false`. */
  allowSetAttrs: boolean;
  /** Allow the peer to delete public own properties. Default `false`. */
  allowDeleteAttrs: boolean;
  /**
   * Call `Symbol.dispose` / `Symbol.asyncDispose` of an exported object when the peer
   * drops its last reference (and on close). Default `false`: an object shared by several
   * connections must not be disposed because one of them let go.
   */
  disposeOnRelease: boolean;
}

/** Safe defaults: methods and getters only. */
export const DEFAULT_ACCESS_POLICY: Readonly<AccessPolicy> = Object.freeze({
  allowPublicAttrs: false,
  allowSetAttrs: false,
  allowDeleteAttrs: false,
  disposeOnRelease: false,
});

const DENIED_NAMES = new Set<string>([
  'constructor',
  'prototype',
  '__proto__',
  'then',
  'onConnect',
  'onDisconnect',
  ...Object.getOwnPropertyNames(Object.prototype),
]);

const CHAIN_STOPS = new Set<object | null>([
  null,
  Object.prototype,
  Function.prototype,
  Array.prototype,
  Promise.prototype,
  Service.prototype,
]);

const boundMethods = new WeakMap<object, WeakMap<object, unknown>>();

function deny(op: Operation, name: string | undefined, why: string): never {
  // String() rather than a template: a symbol sent as a name must not crash the message.
  const what = name === undefined ? '' : ` "${String(name).slice(0, 100)}"`;
  throw new AccessDeniedError(`${OPERATION_NAMES[op] ?? 'operation'}${what} denied: ${why}`);
}

/** Whether a name may ever be reached by a peer. */
export function isExposableName(name: unknown): name is string {
  return typeof name === 'string' && name.length > 0 && name[0] !== '_' && !DENIED_NAMES.has(name);
}

/** Plain data (sent by value anyway): own properties may be read, nothing else. */
function isPlainData(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return (proto === null || proto === Object.prototype || Array.isArray(value)) && !isByRef(value);
}

/**
 * Other values that travel by copy (Map, Set, Date, errors, binary data). A pipelined
 * operation can reach the owner's live instance of such a result, so their built-in
 * methods (`clear`, `setTime`, `fill`...) must never be reachable: a copy is all the peer
 * was given. Only iteration (read-only) is allowed on them.
 */
function isCopiedValue(value: object): boolean {
  // The same split as serialize.ts: exact Map and Set go by copy, their subclasses by
  // reference (and are then governed by the class-chain rule like any class).
  const proto = Object.getPrototypeOf(value);
  return (
    !isByRef(value) &&
    (proto === Map.prototype ||
      proto === Set.prototype ||
      value instanceof Date ||
      value instanceof Error ||
      value instanceof ArrayBuffer ||
      ArrayBuffer.isView(value))
  );
}

function classMember(holder: object, name: string): PropertyDescriptor | undefined {
  let proto = Object.getPrototypeOf(holder) as object | null;
  while (!CHAIN_STOPS.has(proto)) {
    const descriptor = Object.getOwnPropertyDescriptor(proto, name);
    if (descriptor !== undefined) return descriptor;
    proto = Object.getPrototypeOf(proto) as object | null;
  }
  return undefined;
}

/**
 * The member `holder[name]` resolves to right now, within the exposure rule. An own
 * property comes first, as in JavaScript: when own members are exposed it is the member,
 * so a per-instance override (say a kill switch `obj.method = () => { throw ... }`) is
 * what the peer reaches. When own members are hidden and an own property shadows a class
 * member, the operation is denied: serving the class member would bypass the override,
 * and serving the own property would expose what the owner did not opt in to. (A method
 * bound in the constructor, `this.m = this.m.bind(this)`, is such a shadow; the gate binds
 * methods itself, so that line is not needed for peers.)
 */
function resolveMember(
  op: Operation,
  holder: object,
  name: string,
  policy: AccessPolicy,
): PropertyDescriptor {
  const own = Object.getOwnPropertyDescriptor(holder, name);
  if (own !== undefined && (policy.allowPublicAttrs || isByRef(holder))) return own;
  const member = classMember(holder, name);
  if (member === undefined) deny(op, name, `not an exposed member of ${describe(holder)}`);
  if (own !== undefined)
    deny(op, name, 'an own property shadows the class member and own properties are not exposed');
  rememberClassMember(holder, name, member);
  return member;
}

// ---------------------------------------------------------------- class member cache
//
// The walk above reads a property descriptor per prototype on every call. What it found
// for a class instance is remembered per prototype and name, and reused only after
// checks that need no descriptor: the instance has no own property of that name, its
// prototype chain is still the same objects up to the same stop, no prototype before the
// one holding the member has gained that name, and the member is still a data property
// with the same value. Anything else (an own property, a getter, a replaced or moved
// method, a rewired chain, arrays, typed arrays, values sent by copy) takes the full walk,
// so the cache never answers differently from it.

/** What `knownClassMember` answers when the full walk is needed. */
const MISS: unique symbol = Symbol('miss');

interface ChainRecord {
  /** The prototypes from the instance's own prototype up to, not including, the stop. */
  readonly chain: readonly object[];
  readonly stop: object | null;
  /** By name: where in `chain` the member is, and its value. */
  readonly members: Map<string, { readonly at: number; readonly value: unknown }>;
}

const chainRecords = new WeakMap<object, ChainRecord>();
const COPIED_PROTOTYPES: readonly object[] = [
  Map.prototype,
  Set.prototype,
  Date.prototype,
  Error.prototype,
  ArrayBuffer.prototype,
];
// Captured once: reading a possible getter without calling it, and without allocating a
// descriptor (the peer cannot reach or replace these).
const lookupGetter = (Object.prototype as { __lookupGetter__(name: string): unknown })
  .__lookupGetter__;
const getPrototypeOf = Object.getPrototypeOf;
const hasOwn = Object.hasOwn;

/** Whether `holder` is an instance whose members follow the class-chain rule alone. */
function isClassInstance(holder: object): boolean {
  return typeof holder === 'object' && !Array.isArray(holder) && !ArrayBuffer.isView(holder);
}

function rememberClassMember(holder: object, name: string, member: PropertyDescriptor): void {
  if (!('value' in member) || !isClassInstance(holder)) return;
  const first = getPrototypeOf(holder) as object | null;
  if (first === null) return;
  let record = chainRecords.get(first);
  if (record === undefined) {
    const chain: object[] = [];
    let proto: object | null = first;
    while (!CHAIN_STOPS.has(proto)) {
      if (COPIED_PROTOTYPES.includes(proto!) || chain.length >= 32) return;
      chain.push(proto!);
      proto = getPrototypeOf(proto) as object | null;
    }
    if (chain.length === 0) return;
    record = { chain, stop: proto, members: new Map() };
    chainRecords.set(first, record);
  }
  const chain = record.chain;
  for (let at = 0; at < chain.length; at++) {
    if (hasOwn(chain[at]!, name)) {
      if (record.members.size < 1024) record.members.set(name, { at, value: member.value });
      return;
    }
  }
}

/**
 * The class member `holder[name]` the full walk would find, if it was found before and
 * nothing it depends on has changed; else {@link MISS}.
 */
function knownClassMember(holder: object, name: string): unknown {
  if (typeof holder !== 'object') return MISS;
  const first = getPrototypeOf(holder) as object | null;
  if (first === null) return MISS;
  const record = chainRecords.get(first);
  if (record === undefined) return MISS;
  const member = record.members.get(name);
  if (member === undefined || hasOwn(holder, name) || !isClassInstance(holder)) return MISS;
  const chain = record.chain;
  for (let i = 0; i < chain.length; i++) {
    const proto = chain[i]!;
    const next = i + 1 < chain.length ? chain[i + 1]! : record.stop;
    if (getPrototypeOf(proto) !== next) return MISS;
    if (i < member.at && hasOwn(proto, name)) return MISS;
  }
  const home = chain[member.at]!;
  if (!hasOwn(home, name) || lookupGetter.call(home, name) !== undefined) return MISS;
  const value = (home as Record<string, unknown>)[name];
  return value === member.value ? value : MISS;
}

/**
 * `fn` bound to `holder`, the same bound function while `holder[name]` stays `fn` (so a
 * method the peer reads twice, or sends back, keeps its identity), a fresh one once it
 * changes: the cache is keyed on the function itself, never on the name.
 */
function bound(holder: object, fn: (...args: unknown[]) => unknown): unknown {
  let byHolder = boundMethods.get(fn);
  if (byHolder === undefined) {
    byHolder = new WeakMap();
    boundMethods.set(fn, byHolder);
  }
  let method = byHolder.get(holder);
  if (method === undefined) {
    method = fn.bind(holder);
    byHolder.set(holder, method);
  }
  return method;
}

/**
 * The gate: decides and performs one operation of the peer on a local value.
 * @param op The operation kind.
 * @param holder The local object (or function) the operation applies to.
 * @param name The member name for get/set/delete/call of a member; `undefined` to call
 *   the holder itself, iterate it or dispose it.
 * @param policy What the owner allows.
 * @param args Call arguments, or `[value]` for set.
 * @returns The member value (get), the call result (call), an iterator (iterate).
 * @throws {AccessDeniedError} When the exposure rule or policy forbids the operation.
 */
export function access(
  op: Operation,
  holder: unknown,
  name: string | undefined,
  policy: AccessPolicy,
  args?: readonly unknown[],
): unknown {
  if ((typeof holder !== 'object' && typeof holder !== 'function') || holder === null)
    deny(op, name, `target is ${holder === null ? 'null' : typeof holder}`);
  if (name !== undefined && !isExposableName(name)) deny(op, name, 'name is never exposed');
  const target = holder as object;

  switch (op) {
    case Operation.Get: {
      if (name === undefined) return target;
      const known = knownClassMember(target, name);
      if (known !== MISS)
        return typeof known === 'function'
          ? bound(target, known as (...a: unknown[]) => unknown)
          : known;
      if (typeof target === 'function') deny(op, name, 'functions expose no members');
      if (isCopiedValue(target)) deny(op, name, 'values sent by copy expose no members');
      if (isPlainData(target)) {
        if (!Object.hasOwn(target, name)) deny(op, name, 'no such property');
        return (target as Record<string, unknown>)[name];
      }
      const member = resolveMember(op, target, name, policy);
      if (member.get !== undefined) return member.get.call(target);
      if (member.set !== undefined) deny(op, name, 'property is write-only');
      if (typeof member.value === 'function')
        return bound(target, member.value as (...a: unknown[]) => unknown);
      return member.value;
    }
    case Operation.Call: {
      const callArgs = args ?? [];
      if (name === undefined) {
        if (typeof target !== 'function') deny(op, name, `${describe(target)} is not callable`);
        return Reflect.apply(target, undefined, callArgs);
      }
      let fn = knownClassMember(target, name);
      if (fn !== MISS) {
        if (typeof fn === 'function') return Reflect.apply(fn, target, callArgs);
      } else if (typeof target === 'function') deny(op, name, 'functions expose no members');
      else if (isCopiedValue(target)) deny(op, name, 'values sent by copy expose no members');
      else if (isPlainData(target)) {
        fn = Object.hasOwn(target, name) ? (target as Record<string, unknown>)[name] : undefined;
      } else {
        const member = resolveMember(op, target, name, policy);
        fn = member.get !== undefined ? member.get.call(target) : member.value;
      }
      if (typeof fn !== 'function')
        throw new KeywayError(
          'ERR_NOT_CALLABLE',
          `"${name}" of ${describe(target)} is not a function`,
        );
      return Reflect.apply(fn, target, callArgs);
    }
    case Operation.Set: {
      if (!policy.allowSetAttrs) deny(op, name, 'the owner does not allow setting attributes');
      if (
        name === undefined ||
        typeof target === 'function' ||
        isPlainData(target) ||
        isCopiedValue(target)
      )
        deny(op, name, 'not a settable target');
      const member = classMember(target, name);
      if (member !== undefined) {
        if (member.set === undefined) deny(op, name, 'member is not settable');
        member.set.call(target, args?.[0]);
        return undefined;
      }
      const own = Object.getOwnPropertyDescriptor(target, name);
      if (own !== undefined) {
        if (own.set !== undefined) own.set.call(target, args?.[0]);
        else if (own.writable === true) (target as Record<string, unknown>)[name] = args?.[0];
        else deny(op, name, 'property is read-only');
        return undefined;
      }
      if (!Object.isExtensible(target)) deny(op, name, 'object is not extensible');
      Object.defineProperty(target, name, {
        value: args?.[0],
        writable: true,
        enumerable: true,
        configurable: true,
      });
      return undefined;
    }
    case Operation.Delete: {
      if (!policy.allowDeleteAttrs) deny(op, name, 'the owner does not allow deleting attributes');
      if (
        name === undefined ||
        typeof target === 'function' ||
        isPlainData(target) ||
        isCopiedValue(target)
      )
        deny(op, name, 'not a deletable target');
      const own = Object.getOwnPropertyDescriptor(target, name);
      if (own === undefined || own.configurable !== true) deny(op, name, 'no deletable property');
      delete (target as Record<string, unknown>)[name];
      return undefined;
    }
    case Operation.Iterate: {
      if (name !== undefined) deny(op, name, 'iterate takes no member name');
      const source = target as {
        [Symbol.asyncIterator]?: unknown;
        [Symbol.iterator]?: unknown;
      };
      const make = source[Symbol.asyncIterator] ?? source[Symbol.iterator];
      if (typeof make !== 'function') deny(op, name, `${describe(target)} is not iterable`);
      return Reflect.apply(make, target, []);
    }
    case Operation.Dispose: {
      if (name !== undefined) deny(op, name, 'dispose takes no member name');
      const disposable = target as { [Symbol.dispose]?: unknown; [Symbol.asyncDispose]?: unknown };
      const dispose = disposable[Symbol.asyncDispose] ?? disposable[Symbol.dispose];
      if (typeof dispose !== 'function') return undefined;
      return Reflect.apply(dispose, target, []);
    }
    case Operation.List: {
      if (name !== undefined) deny(op, name, 'list takes no member name');
      return exposedNames(target, policy);
    }
    default:
      return deny(op, name, 'unknown operation');
  }
}

/** The member names `access` would let the peer reach on `target`, sorted. */
function exposedNames(target: object, policy: AccessPolicy): string[] {
  if (typeof target === 'function' || isCopiedValue(target)) return [];
  const names = new Set<string>();
  if (isPlainData(target)) {
    for (const key of Object.keys(target)) if (isExposableName(key)) names.add(key);
    return [...names].sort();
  }
  const ownExposed = policy.allowPublicAttrs || isByRef(target);
  let proto = Object.getPrototypeOf(target) as object | null;
  while (!CHAIN_STOPS.has(proto)) {
    for (const key of Object.getOwnPropertyNames(proto)) {
      // A class member shadowed by a hidden own property is denied (see resolveMember).
      if (isExposableName(key) && (ownExposed || !Object.hasOwn(target, key))) names.add(key);
    }
    proto = Object.getPrototypeOf(proto) as object | null;
  }
  if (ownExposed) {
    for (const key of Object.keys(target)) if (isExposableName(key)) names.add(key);
  }
  return [...names].sort();
}

function describe(target: object): string {
  if (typeof target === 'function') return 'a function';
  const proto = Object.getPrototypeOf(target) as { constructor?: { name?: unknown } } | null;
  const name = proto?.constructor?.name;
  return typeof name === 'string' && name !== '' ? `a ${name}` : 'an object';
}
