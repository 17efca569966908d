/**
 * A table of records by request id (docs/protocol.md §5: question and answer ids), cheaper
 * than a `Map` for ids that mostly count up: the record of id `n` sits in slot
 * `n & mask` of two arrays, so adding and removing a record allocates nothing, where a
 * `Map` with a thousand records coming and going rebuilds its hash table every thousand
 * changes. An id whose slot is taken (a long-pending call, or a peer choosing colliding
 * ids) goes to an overflow `Map`; the slots double while they are less than twice the
 * records, up to a cap, and the owner compacts an empty table at quiet moments.
 */

const FIRST_SLOTS = 8;
const MAX_SLOTS = 4096;

/** Records by numeric id; the values are objects, never `undefined`. */
export class IdTable<T extends object> {
  #ids: number[] = [];
  #values: (T | undefined)[] = [];
  #mask = -1;
  #overflow: Map<number, T> | undefined;
  #size = 0;

  /** How many records are held. */
  get size(): number {
    return this.#size;
  }

  /** The record of `id`, if held. */
  get(id: number): T | undefined {
    const i = id & this.#mask;
    const value = this.#values[i];
    if (value !== undefined && this.#ids[i] === id) return value;
    return this.#overflow?.get(id);
  }

  /** Whether a record of `id` is held. */
  has(id: number): boolean {
    return this.get(id) !== undefined;
  }

  /** Holds `value` as the record of `id`, replacing any record of that id. */
  set(id: number, value: T): void {
    if (this.#delete(id)) this.#size--;
    if (this.#mask === -1) this.#resize(FIRST_SLOTS);
    let i = id & this.#mask;
    if (this.#values[i] !== undefined && this.#values.length < MAX_SLOTS) {
      if (this.#values.length < 2 * (this.#size + 1)) {
        this.#resize(this.#values.length * 2);
        i = id & this.#mask;
      }
    }
    this.#size++;
    // NaN never equals itself, so it could not be found in a slot; the Map finds it.
    if (this.#values[i] === undefined && !Number.isNaN(id)) {
      this.#ids[i] = id;
      this.#values[i] = value;
    } else {
      this.#overflow ??= new Map();
      this.#overflow.set(id, value);
    }
  }

  /** Forgets the record of `id`. @returns whether there was one. */
  delete(id: number): boolean {
    if (!this.#delete(id)) return false;
    this.#size--;
    return true;
  }

  /**
   * Gives back the slots if the table is empty now (an idle connection keeps none). For
   * quiet moments only: emptied and refilled by every burst, the table would regrow each
   * time.
   */
  compact(): void {
    if (this.#size === 0 && this.#mask !== -1) this.clear();
  }

  /** The records, in no particular order. */
  values(): T[] {
    const out: T[] = [];
    for (const value of this.#values) if (value !== undefined) out.push(value);
    if (this.#overflow !== undefined) for (const value of this.#overflow.values()) out.push(value);
    return out;
  }

  /** Forgets every record. */
  clear(): void {
    this.#ids = [];
    this.#values = [];
    this.#mask = -1;
    this.#overflow = undefined;
    this.#size = 0;
  }

  #delete(id: number): boolean {
    const i = id & this.#mask;
    if (this.#values[i] !== undefined && this.#ids[i] === id) {
      this.#values[i] = undefined;
      return true;
    }
    return this.#overflow?.delete(id) ?? false;
  }

  #resize(slots: number): void {
    const ids = this.#ids;
    const values = this.#values;
    const overflow = this.#overflow;
    this.#ids = new Array<number>(slots).fill(0);
    this.#values = new Array<T | undefined>(slots).fill(undefined);
    this.#mask = slots - 1;
    this.#overflow = undefined;
    const place = (id: number, value: T) => {
      const i = id & this.#mask;
      if (this.#values[i] === undefined && !Number.isNaN(id)) {
        this.#ids[i] = id;
        this.#values[i] = value;
      } else {
        this.#overflow ??= new Map();
        this.#overflow.set(id, value);
      }
    };
    for (let i = 0; i < values.length; i++) {
      const value = values[i];
      if (value !== undefined) place(ids[i]!, value);
    }
    if (overflow !== undefined) for (const [id, value] of overflow) place(id, value);
  }
}
