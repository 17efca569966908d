/**
 * Compile-time shapes of remote objects (docs/design.md §2, `Remote<T>`). A `Remote<T>` has
 * T's public methods, each returning a promise that is also a pipelining stub; fields and
 * getters become awaitable property stubs. Names that are never exposed (`_x`, `then`,
 * `constructor`, the service hooks) are absent from the type as they are on the wire.
 */
import type { Service } from './service.js';

type AnyFunction = (...args: never[]) => unknown;
type Leaf = string | number | boolean | bigint | symbol | undefined | null;
type ValueObject =
  | Date
  | Uint8Array
  | ArrayBuffer
  | ArrayBufferView
  | Error
  | ReadableStream<Uint8Array>;

type HasMethods<T> = true extends {
  [K in keyof T]: T[K] extends AnyFunction ? true : false;
}[keyof T]
  ? true
  : false;

type HiddenName = 'then' | 'constructor' | keyof Service | `_${string}`;

/** What a value of type `T` looks like on the other side of the wire. */
export type Arrived<T> = T extends Leaf | ValueObject
  ? T
  : T extends AnyFunction
    ? Remote<T>
    : T extends Map<infer K, infer V>
      ? Map<Arrived<K>, Arrived<V>>
      : T extends Set<infer V>
        ? Set<Arrived<V>>
        : T extends readonly (infer E)[]
          ? Arrived<E>[]
          : HasMethods<T> extends true
            ? Remote<T>
            : { [K in keyof T]: Arrived<T[K]> };

/** What iterating a stub for `T` yields, if `T` is iterable. */
type RemoteIteration<T> = T extends AsyncIterable<infer E> | Iterable<infer E>
  ? AsyncIterable<Arrived<E>>
  : unknown;

/** What can be done with a result before it arrives (pipelining). */
type Pipeline<V> = V extends Leaf | ValueObject
  ? unknown
  : V extends AnyFunction
    ? RemoteFunction<V>
    : RemoteMembers<V> & RemoteIteration<V>;

/** The result of a remote call: a promise for the value and a stub for pipelining. */
export type RemoteResult<R> = Promise<Arrived<Awaited<R>>> & Pipeline<Awaited<R>>;

/** A remote function: same parameters, a {@link RemoteResult}. */
export type RemoteFunction<F> = F extends (...args: infer A) => infer R
  ? (...args: A) => RemoteResult<R>
  : never;

/** The public members of `T` as seen through a stub. */
export type RemoteMembers<T> = {
  readonly [K in keyof T as K extends string
    ? K extends HiddenName
      ? never
      : K
    : never]: T[K] extends AnyFunction ? RemoteFunction<T[K]> : RemoteResult<T[K]>;
};

/**
 * A typed stub for a remote `T`: methods return promises that are also stubs,
 * properties are awaitable.
 * @example
 * const calc = conn.root as Remote<Calculator>;
 * const sum: number = await calc.add(1, 2);
 */
export type Remote<T> = RemoteMembers<T> &
  RemoteIteration<T> &
  (T extends AnyFunction ? RemoteFunction<T> : unknown) & {
    /** Releases the remote reference now (`using` calls it). */
    [Symbol.dispose](): void;
  };
