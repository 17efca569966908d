/**
 * The import table of one connection (docs/protocol.md §7): the peer's objects we
 * hold, one stub per id while that stub lives, with how many times the peer sent each id.
 * A stub is released explicitly or by a `FinalizationRegistry` after garbage collection;
 * either way the table reports `(id, count)` once, so the owner can subtract exactly what
 * it added, even when the same object was sent again meanwhile.
 */
import { type BudgetAccount, BudgetKind, UNLIMITED_ACCOUNT } from './budget.js';
import { ProtocolError } from './errors.js';
import type { Stub } from './stub.js';

interface ImportEntry {
  readonly id: number;
  count: number;
  readonly ref: WeakRef<Stub>;
  dead: boolean;
}

/** Who is told of released imports (the session's housekeeping). */
export interface ImportReleases {
  /** `count` receipts of the peer's object `id` are given back. */
  release(id: number, count: number): void;
}

/**
 * The peer's objects we hold stubs for. The peer's root (import 0) is not in it: the
 * session holds that stub, for good, and never releases it.
 */
export class ImportTable {
  readonly #limit: number;
  readonly #budget: BudgetAccount;
  // The table and the registry are made with the first import other than the root: a
  // connection that only calls the peer's root never needs them.
  #entries: Map<number, ImportEntry> | undefined;
  #registry: FinalizationRegistry<ImportEntry> | undefined;
  readonly #releases: ImportReleases;

  /**
   * @param limit Most live imports (the root not counted).
   * @param releases Told once per released stub its id and received count.
   * @param budget Where each entry is also charged as one live reference.
   */
  constructor(limit: number, releases: ImportReleases, budget: BudgetAccount = UNLIMITED_ACCOUNT) {
    this.#limit = limit;
    this.#budget = budget;
    this.#releases = releases;
  }

  /** The live stub for `id` (never 0), counting one more receipt; `undefined` if none. */
  take(id: number): Stub | undefined {
    const entry = this.#entries?.get(id);
    if (entry === undefined) return undefined;
    const stub = entry.ref.deref();
    if (stub !== undefined) {
      entry.count++;
      return stub;
    }
    // Collected but not yet finalized: release the old count now, start afresh.
    this.#released(entry);
    return undefined;
  }

  /**
   * Records a new stub for `id`, received once.
   * @returns `false`, recording nothing, when the budget refuses one more reference.
   * @throws {ProtocolError} When the peer has sent more live references than the limit.
   */
  add(id: number, stub: Stub): boolean {
    if (this.size >= this.#limit)
      throw new ProtocolError(`the peer sent more than ${this.#limit} live references`, {
        code: 'ERR_LIMIT_EXCEEDED',
      });
    if (!this.#budget.acquire(BudgetKind.References, 1)) return false;
    const entry: ImportEntry = { id, count: 1, ref: new WeakRef(stub), dead: false };
    this.#entries ??= new Map();
    this.#entries.set(id, entry);
    this.#registry ??= new FinalizationRegistry((held) => this.#released(held));
    this.#registry.register(stub, entry, entry);
    return true;
  }

  /** Releases `stub` now (if it is still the live stub for `id`). */
  drop(id: number, stub: Stub): void {
    if (id === 0) return;
    const entry = this.#entries?.get(id);
    if (entry === undefined || entry.ref.deref() !== stub) return;
    this.#registry?.unregister(entry);
    this.#released(entry);
  }

  /**
   * Gives back one receipt of `stub` (received, then dropped unseen): the owner is told to
   * release that one reference. When it was the only receipt the entry goes too.
   * @returns Whether the stub is now released (no receipt of it is left).
   */
  giveBack(id: number, stub: Stub): boolean {
    if (id === 0) return false;
    const entry = this.#entries?.get(id);
    if (entry === undefined || entry.dead || entry.ref.deref() !== stub) return false;
    entry.count--;
    this.#releases.release(id, 1);
    if (entry.count > 0) return false;
    entry.dead = true;
    this.#registry?.unregister(entry);
    this.#entries?.delete(id);
    this.#budget.release(BudgetKind.References, 1);
    return true;
  }

  /** Live imports, the root not counted. */
  get size(): number {
    return this.#entries?.size ?? 0;
  }

  /** Forgets everything without reporting releases (the connection closed). */
  clear(): void {
    this.#budget.release(BudgetKind.References, this.size);
    const entries = this.#entries;
    if (entries === undefined) return;
    for (const entry of entries.values()) {
      entry.dead = true;
      this.#registry?.unregister(entry);
    }
    entries.clear();
  }

  #released(entry: ImportEntry): void {
    if (entry.dead) return;
    entry.dead = true;
    const entries = this.#entries;
    if (entries !== undefined && entries.get(entry.id) === entry) entries.delete(entry.id);
    this.#budget.release(BudgetKind.References, 1);
    this.#releases.release(entry.id, entry.count);
  }
}
