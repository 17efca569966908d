/**
 * The export table of one connection (docs/protocol.md §7): our objects the peer
 * holds references to, each with an id and a reference count. The same object always has
 * the same id while exported; id 0 is the local root and is never released. The counts of
 * a message that could not be sent are taken back (`begin` / `commit` / `rollback`), so
 * the peer's view and ours never drift apart.
 */
import { type BudgetAccount, BudgetKind, overBudget, UNLIMITED_ACCOUNT } from './budget.js';
import { isByteSource } from './byte-stream.js';
import { LimitExceededError } from './errors.js';

interface ExportEntry {
  readonly value: object;
  refs: number;
}

/** Our exported objects, by id, with reference counts. */
export class ExportTable {
  readonly #limit: number;
  readonly #budget: BudgetAccount;
  /** Export 0, for good; not in the tables, which are made with the first other export. */
  #root: object | undefined;
  #entries: Map<number, ExportEntry> | undefined;
  #ids: Map<object, number> | undefined;
  #next = 1;
  /** Between begin() and commit() or rollback(): the exports of one outgoing message. */
  #logging = false;
  #log: number[] | undefined;

  /**
   * @param limit Most objects exported at once (the root not counted).
   * @param budget Where each entry is also charged as one live reference.
   */
  constructor(limit: number, budget: BudgetAccount = UNLIMITED_ACCOUNT) {
    this.#limit = limit;
    this.#budget = budget;
  }

  /** Registers the local root as id 0, for good. */
  setRoot(root: object): void {
    this.#root = root;
  }

  /** The object exported as `id`, if any. */
  get(id: number): object | undefined {
    if (id === 0) return this.#root;
    return this.#entries?.get(id)?.value;
  }

  /**
   * Exports `value` once more and returns its id.
   * @throws {LimitExceededError} When a new entry would pass the limit or the budget.
   */
  add(value: object): number {
    if (value === this.#root) {
      this.#note(0);
      return 0;
    }
    const existing = this.#ids?.get(value);
    if (existing !== undefined) {
      this.#entries!.get(existing)!.refs++;
      this.#note(existing);
      return existing;
    }
    if (this.size >= this.#limit)
      throw new LimitExceededError(`more than ${this.#limit} objects exported to the peer`);
    if (!this.#budget.acquire(BudgetKind.References, 1)) throw overBudget(BudgetKind.References);
    const id = this.#next++;
    this.#entries ??= new Map();
    this.#ids ??= new Map();
    this.#entries.set(id, { value, refs: 1 });
    this.#ids.set(value, id);
    this.#note(id);
    return id;
  }

  #note(id: number): void {
    if (!this.#logging) return;
    this.#log ??= [];
    this.#log.push(id);
  }

  /**
   * The peer dropped `count` references to `id`.
   * @returns The object when this was its last reference (now removed), else `undefined`.
   */
  release(id: number, count: number): object | undefined {
    if (id === 0) return undefined;
    const entry = this.#entries?.get(id);
    if (entry === undefined) return undefined;
    entry.refs -= count;
    if (entry.refs > 0) return undefined;
    this.#entries!.delete(id);
    this.#ids!.delete(entry.value);
    this.#budget.release(BudgetKind.References, 1);
    return entry.value;
  }

  /** Starts noting the exports of one outgoing message. */
  begin(): void {
    // No array until a message exports something: most carry no reference.
    this.#logging = true;
    this.#log = undefined;
  }

  /** The message was sent: the peer now holds those references. */
  commit(): void {
    this.#logging = false;
    this.#log = undefined;
  }

  /** The message was not sent: the peer never learned of those references. */
  rollback(): void {
    const log = this.#log;
    this.#logging = false;
    this.#log = undefined;
    if (log === undefined) return;
    for (const id of log) {
      const dropped = this.release(id, 1);
      // A stream taken for the message is cancelled, not left locked with nobody to read it.
      if (isByteSource(dropped)) dropped._close();
    }
  }

  /** Exported objects, the root not counted. */
  get size(): number {
    return this.#entries?.size ?? 0;
  }

  /** Empties the table (the connection closed) and returns what was exported. */
  clear(): object[] {
    const values: object[] = [];
    for (const entry of this.#entries?.values() ?? []) values.push(entry.value);
    this.#budget.release(BudgetKind.References, values.length);
    this.#entries?.clear();
    this.#ids?.clear();
    return values;
  }
}
