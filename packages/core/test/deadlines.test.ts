/**
 * The deadline queue shared by every connection of a thread: each scheduled item is due
 * once, in deadline order, never before its deadline; unscheduled ones never are; a
 * deadline only moves earlier; and the queue is empty once all have fired.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { schedule, scheduledCount, type Timed, unschedule } from '../src/deadlines.js';

interface Item extends Timed {
  readonly name: number;
  fired: number[];
}

function item(name: number, log: Item[]): Item {
  const it: Item = {
    name,
    dueAt: Number.POSITIVE_INFINITY,
    dueSlot: -1,
    fired: [],
    due(now) {
      it.fired.push(now);
      log.push(it);
    },
  };
  return it;
}

describe('deadline queue', () => {
  it('fires each item once, in deadline order, not before its deadline', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            delay: fc.integer({ min: 0, max: 40 }),
            earlier: fc.option(fc.integer({ min: 0, max: 40 })),
            later: fc.boolean(),
            cancel: fc.boolean(),
          }),
          { minLength: 1, maxLength: 30 },
        ),
        async (specs) => {
          const log: Item[] = [];
          const start = performance.now();
          const items = specs.map((spec, i) => {
            const it = item(i, log);
            schedule(it, start + spec.delay);
            return it;
          });
          const expected = new Map<Item, number>();
          specs.forEach((spec, i) => {
            const it = items[i]!;
            let at = start + spec.delay;
            // A later deadline is ignored; an earlier one replaces it.
            if (spec.later) schedule(it, at + 50);
            if (spec.earlier !== null && start + spec.earlier < at) {
              at = start + spec.earlier;
              schedule(it, at);
            }
            if (spec.cancel) unschedule(it);
            else expected.set(it, at);
          });
          await new Promise((resolve) => setTimeout(resolve, 120));
          expect(scheduledCount()).toBe(0);
          expect(new Set(log).size).toBe(log.length);
          expect(new Set(log)).toEqual(new Set(expected.keys()));
          for (let i = 1; i < log.length; i++)
            expect(expected.get(log[i]!)!).toBeGreaterThanOrEqual(expected.get(log[i - 1]!)!);
          for (const [it, at] of expected) {
            expect(it.fired).toHaveLength(1);
            expect(it.fired[0]!).toBeGreaterThanOrEqual(at);
            expect(it.dueSlot).toBe(-1);
          }
        },
      ),
      { numRuns: 15 },
    );
  });

  it('lets an item schedule itself again from its own deadline', async () => {
    let count = 0;
    const it: Timed = {
      dueAt: Number.POSITIVE_INFINITY,
      dueSlot: -1,
      due(now) {
        if (++count < 3) schedule(it, now + 5);
      },
    };
    schedule(it, performance.now() + 5);
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(count).toBe(3);
    expect(scheduledCount()).toBe(0);
  });
});
