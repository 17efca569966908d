/**
 * The id table behaves as a `Map` of the same records, whatever the ids: counting up
 * with some held for long, colliding on purpose, negative, huge or not integers at all.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IdTable } from '../src/id-table.js';

type Op = { kind: 'set' | 'delete' | 'get'; id: number };

const ids = fc.oneof(
  fc.integer({ min: 0, max: 300 }),
  fc.integer({ min: 0, max: 8 }).map((n) => n * 4096),
  fc.integer({ min: -5, max: 5 }),
  fc.constantFrom(Number.MAX_SAFE_INTEGER, 2 ** 32 + 1, 2 ** 31, 1.5, Number.NaN),
);
const op = fc.record({
  kind: fc.constantFrom('set', 'delete', 'get'),
  id: ids,
}) as fc.Arbitrary<Op>;

function check(
  table: IdTable<{ id: number; n: number }>,
  model: Map<number, { id: number; n: number }>,
) {
  expect(table.size).toBe(model.size);
  const sort = (xs: { n: number }[]) => xs.map((x) => x.n).sort((a, b) => a - b);
  expect(sort(table.values())).toEqual(sort([...model.values()]));
}

describe('IdTable', () => {
  it('agrees with a Map under any sequence of set, delete and get', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 400 }), (ops) => {
        const table = new IdTable<{ id: number; n: number }>();
        const model = new Map<number, { id: number; n: number }>();
        ops.forEach(({ kind, id }, n) => {
          if (kind === 'set') {
            const value = { id, n };
            table.set(id, value);
            model.set(id, value);
          } else if (kind === 'delete') {
            expect(table.delete(id)).toBe(model.delete(id));
          } else {
            expect(table.get(id)).toBe(model.get(id));
            expect(table.has(id)).toBe(model.has(id));
          }
        });
        check(table, model);
        for (const id of model.keys()) expect(table.get(id)).toBe(model.get(id));
        table.clear();
        expect(table.size).toBe(0);
        expect(table.values()).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });

  it('a thousand calls in flight with one held throughout', () => {
    const table = new IdTable<{ id: number }>();
    const held = { id: 1 };
    table.set(1, held);
    for (let id = 2; id < 20_000; id++) {
      table.set(id, { id });
      if (id > 1_000) expect(table.delete(id - 999)).toBe(id - 999 !== 1);
    }
    expect(table.get(1)).toBe(held);
    expect(table.size).toBe(1_000);
    expect(table.get(19_999)).toEqual({ id: 19_999 });
    // Emptied and compacted, it works on as new.
    for (let id = 19_000; id < 20_000; id++) table.delete(id);
    table.compact();
    expect(table.get(1)).toBe(held);
    table.delete(1);
    table.compact();
    expect(table.size).toBe(0);
    table.set(7, held);
    expect(table.get(7)).toBe(held);
    expect(table.values()).toEqual([held]);
  });
});
