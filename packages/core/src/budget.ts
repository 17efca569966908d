/**
 * Resource budgets shared by many connections (docs/security.md "Worst-case memory"). Each
 * connection's limits bound what one peer can make this process hold; a budget bounds the
 * sum over every connection of a server, and the share of it one identity may take, so
 * that many connections cannot together exhaust memory and one user cannot starve the
 * others. Three kinds are counted: the estimated decoded size of the peer's requests being
 * served, live references (exports and imports), and the peer's unfinished calls.
 *
 * Core only defines the shape ({@link ResourceBudget}, {@link BudgetAccount}) and one
 * implementation ({@link SharedBudget}); a server creates one budget and gives it to every
 * connection with the peer's identity as the key (`ConnectionOptions.budget`, `budgetKey`).
 * Charging and releasing are a few additions on numbers: nothing is allocated per call.
 */
import { LimitExceededError } from './errors.js';
import { type ErrorClass, fromWire, NOT_STUB, type RefHost } from './serialize.js';

/** What a budget counts. Fixed; an index into per-kind counters. */
export const BudgetKind = Object.freeze({
  /** Estimated decoded bytes of the peer's requests being served (`Codec.decodedSize`). */
  RequestBytes: 0,
  /** Live references: our objects the peer holds, and the peer's objects we hold. */
  References: 1,
  /** The peer's calls not yet finished (served or not). */
  Calls: 2,
} as const);
/** One of {@link BudgetKind}. */
export type BudgetKind = (typeof BudgetKind)[keyof typeof BudgetKind];

const KIND_NAMES = ['request bytes', 'live references', 'unfinished calls'] as const;

/** The part of a budget one connection draws on. */
export interface BudgetAccount {
  /**
   * Takes `amount` of `kind`.
   * @returns `false`, taking nothing, when the budget or the key's share would be exceeded.
   */
  acquire(kind: BudgetKind, amount: number): boolean;
  /** Gives back `amount` of `kind` taken earlier by this account. */
  release(kind: BudgetKind, amount: number): void;
  /** Gives back everything this account still holds; later calls change nothing. */
  close(): void;
}

/** A budget connections draw on: one account per connection, charged to an identity key. */
export interface ResourceBudget {
  /**
   * Opens the account of one connection.
   * @param key Who the peer is (a key fingerprint, a user name, a source address): every
   *   connection with the same key shares one share of the budget.
   */
  open(key: string): BudgetAccount;
}

/** Sizes of a {@link SharedBudget}. */
export interface BudgetLimits {
  /**
   * Estimated decoded bytes of requests being served at once, over every connection.
   * A request is charged its encoded size plus 24 bytes per element unit from when it is
   * accepted until it settles or is cancelled. Default 256 MiB.
   */
  maxRequestBytes: number;
  /** Live references (exports and imports) over every connection. Default 500,000. */
  maxReferences: number;
  /** The peers' unfinished calls over every connection. Default 100,000. */
  maxCalls: number;
  /**
   * The fraction of each of the three that the connections of one key may hold together,
   * in (0, 1]. Default 0.25: one identity cannot take more than a quarter of the server.
   */
  share: number;
}

/** Defaults of {@link BudgetLimits}. */
export const DEFAULT_BUDGET_LIMITS: Readonly<BudgetLimits> = Object.freeze({
  maxRequestBytes: 256 * 1024 * 1024,
  maxReferences: 500_000,
  maxCalls: 100_000,
  share: 0.25,
});

/** What a {@link SharedBudget} holds now, for monitoring and tests. */
export interface BudgetUsage {
  readonly requestBytes: number;
  readonly references: number;
  readonly calls: number;
  /** Keys with at least one open account. */
  readonly keys: number;
  /** Refusals so far, of every kind. */
  readonly refusals: number;
}

/** The counters of one key, shared by its accounts. */
class Share {
  readonly used = [0, 0, 0];
  accounts = 0;
  /** The key, held once here for all its accounts (not a string per connection). */
  readonly key: string;

  constructor(key: string) {
    this.key = key;
  }
}

/** The counters behind a {@link SharedBudget} (kept out of its public shape). */
class Pool {
  readonly limit: readonly number[];
  readonly shareLimit: readonly number[];
  readonly used = [0, 0, 0];
  readonly shares = new Map<string, Share>();
  refusals = 0;

  constructor(limits: BudgetLimits) {
    this.limit = [limits.maxRequestBytes, limits.maxReferences, limits.maxCalls];
    this.shareLimit = this.limit.map((n) => Math.max(1, Math.floor(n * limits.share)));
  }
}

/** One connection's account in a {@link SharedBudget}. */
class SharedAccount implements BudgetAccount {
  readonly #pool: Pool;
  readonly #share: Share;
  readonly #held = [0, 0, 0];
  #closed = false;

  constructor(pool: Pool, share: Share) {
    this.#pool = pool;
    this.#share = share;
  }

  acquire(kind: BudgetKind, amount: number): boolean {
    if (this.#closed) return true;
    const pool = this.#pool;
    const share = this.#share;
    if (
      pool.used[kind]! + amount > pool.limit[kind]! ||
      share.used[kind]! + amount > pool.shareLimit[kind]!
    ) {
      pool.refusals++;
      return false;
    }
    pool.used[kind]! += amount;
    share.used[kind]! += amount;
    this.#held[kind]! += amount;
    return true;
  }

  release(kind: BudgetKind, amount: number): void {
    if (this.#closed) return;
    // Never give back more than was taken, whatever a caller's bookkeeping says.
    const n = Math.min(amount, this.#held[kind]!);
    this.#held[kind]! -= n;
    this.#pool.used[kind]! -= n;
    this.#share.used[kind]! -= n;
  }

  close(): void {
    if (this.#closed) return;
    for (let kind = 0; kind < 3; kind++) this.release(kind as BudgetKind, this.#held[kind]!);
    this.#closed = true;
    if (--this.#share.accounts === 0) this.#pool.shares.delete(this.#share.key);
  }
}

/**
 * A budget for all the connections of a server: totals per kind, and a per-key share of
 * each. Over either, an operation fails with `LimitExceededError` (`ERR_LIMIT_EXCEEDED`);
 * the peer's call is rejected, the connection stays open.
 * @example
 * const budget = new SharedBudget({ maxCalls: 20_000 });
 * const connection = await connectTransport(transport, {
 *   service, budget, budgetKey: credentials.publicKey.fingerprint,
 * });
 */
export class SharedBudget implements ResourceBudget {
  readonly #pool: Pool;
  /** The sizes in force, defaults filled in. */
  readonly limits: Readonly<BudgetLimits>;

  /**
   * @param limits Sizes; each missing one takes its {@link DEFAULT_BUDGET_LIMITS} value.
   * @throws {RangeError} For a size that is not a positive number, or a share outside (0, 1].
   */
  constructor(limits: Partial<BudgetLimits> = {}) {
    const resolved = { ...DEFAULT_BUDGET_LIMITS };
    for (const name of ['maxRequestBytes', 'maxReferences', 'maxCalls'] as const) {
      const value = limits[name];
      if (value === undefined) continue;
      if (typeof value !== 'number' || Number.isNaN(value) || value < 1)
        throw new RangeError(`${name} must be a number >= 1, got ${String(value)}`);
      resolved[name] = value;
    }
    if (limits.share !== undefined) {
      const share = limits.share;
      if (typeof share !== 'number' || !(share > 0 && share <= 1))
        throw new RangeError(`share must be a number in (0, 1], got ${String(share)}`);
      resolved.share = share;
    }
    this.limits = Object.freeze(resolved);
    this.#pool = new Pool(resolved);
  }

  open(key: string): BudgetAccount {
    if (typeof key !== 'string') throw new TypeError('open(key): key must be a string');
    const pool = this.#pool;
    let share = pool.shares.get(key);
    if (share === undefined) {
      share = new Share(key);
      pool.shares.set(key, share);
    }
    share.accounts++;
    return new SharedAccount(pool, share);
  }

  /** What is held now, over every connection. */
  usage(): BudgetUsage {
    const { used, shares, refusals } = this.#pool;
    return {
      requestBytes: used[0]!,
      references: used[1]!,
      calls: used[2]!,
      keys: shares.size,
      refusals,
    };
  }
}

/** The account of a connection without a budget: everything is allowed. */
export const UNLIMITED_ACCOUNT: BudgetAccount = Object.freeze({
  acquire: () => true,
  release: () => {},
  close: () => {},
});

/**
 * The error for a refused charge of `kind`.
 * @internal
 */
export function overBudget(kind: BudgetKind): LimitExceededError {
  return new LimitExceededError(
    `the server's budget of ${KIND_NAMES[kind]} is exhausted for this peer; try again later`,
  );
}

/**
 * Admits one request of the peer: one unfinished call and its decoded size.
 * @returns `undefined` when both were taken, else the kind refused (nothing is taken).
 * @internal
 */
export function admitRequest(account: BudgetAccount, bytes: number): BudgetKind | undefined {
  if (!account.acquire(BudgetKind.Calls, 1)) return BudgetKind.Calls;
  if (account.acquire(BudgetKind.RequestBytes, bytes)) return undefined;
  account.release(BudgetKind.Calls, 1);
  return BudgetKind.RequestBytes;
}

const NO_ERROR_CLASSES: ReadonlyMap<string, ErrorClass> = new Map();

/**
 * Reads a refused request's arguments (the list of wire values) only to give back, through `release`, each reference
 * the peer sent in them (the peer counts them as held by us); nothing in them is acted on.
 * @internal
 */
export function returnReferences(rawArgs: unknown, release: (id: number) => void): void {
  if (!Array.isArray(rawArgs)) return;
  const host: RefHost = {
    encodeStub: () => NOT_STUB,
    exportRef: () => 0,
    importRef: (id) => {
      release(id);
      return undefined;
    },
    localRef: () => undefined,
    answerRef: () => undefined,
    discardRef: () => {},
    exportStream: () => 0,
    // A byte stream is one reference of the peer, like an object.
    importStream: (id) => {
      release(id);
      return undefined;
    },
    includeRemoteStack: false,
    errorClasses: NO_ERROR_CLASSES,
  };
  for (const arg of rawArgs) fromWire(arg, host);
}
