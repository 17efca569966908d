/**
 * One timer per thread for the deadlines of every connection (docs/protocol.md §8: each
 * connection has one deadline, the earliest of its calls, pings and keepalive). A
 * connection's deadline is a slot in a binary min-heap shared by all connections; one
 * `setTimeout` is armed for the earliest of them. An idle connection then costs a heap
 * slot instead of a runtime timer object and the closure it calls. Uses only
 * `setTimeout` and `performance.now()`, so it runs in browsers as in Node.
 */
import { type TimerHandle, unrefTimer } from './timers.js';

/** Something with at most one deadline at a time. */
export interface Timed {
  /** When it is due (`performance.now()` time); `+Infinity` when not scheduled. */
  dueAt: number;
  /** Its index in the queue, `-1` when not in it. Only this module writes it. */
  dueSlot: number;
  /** Called once when the deadline has passed; it is unscheduled by then. */
  due(now: number): void;
}

const heap: Timed[] = [];
let timer: TimerHandle | undefined;
/** When the armed timer fires; `+Infinity` when none is armed. */
let timerAt = Number.POSITIVE_INFINITY;

/**
 * Schedules `item` at `at`, unless it is already due no later than that: a deadline only
 * moves earlier here (it is cleared by {@link unschedule} or by firing).
 */
export function schedule(item: Timed, at: number): void {
  if (item.dueSlot >= 0) {
    if (at >= item.dueAt) return;
    item.dueAt = at;
    siftUp(item.dueSlot);
  } else {
    item.dueAt = at;
    item.dueSlot = heap.length;
    heap.push(item);
    siftUp(item.dueSlot);
  }
  arm();
}

/** Removes `item`'s deadline, if it has one. */
export function unschedule(item: Timed): void {
  const slot = item.dueSlot;
  if (slot < 0) return;
  removeAt(slot);
  arm();
}

/** Deadlines waiting (for tests). */
export function scheduledCount(): number {
  return heap.length;
}

function removeAt(slot: number): void {
  const item = heap[slot]!;
  const last = heap.pop()!;
  item.dueSlot = -1;
  item.dueAt = Number.POSITIVE_INFINITY;
  if (last === item) return;
  heap[slot] = last;
  last.dueSlot = slot;
  siftDown(slot);
  siftUp(last.dueSlot);
}

function siftUp(slot: number): void {
  const item = heap[slot]!;
  while (slot > 0) {
    const parentSlot = (slot - 1) >> 1;
    const parent = heap[parentSlot]!;
    if (parent.dueAt <= item.dueAt) break;
    heap[slot] = parent;
    parent.dueSlot = slot;
    slot = parentSlot;
  }
  heap[slot] = item;
  item.dueSlot = slot;
}

function siftDown(slot: number): void {
  const item = heap[slot]!;
  const n = heap.length;
  for (;;) {
    let child = 2 * slot + 1;
    if (child >= n) break;
    if (child + 1 < n && heap[child + 1]!.dueAt < heap[child]!.dueAt) child++;
    const next = heap[child]!;
    if (next.dueAt >= item.dueAt) break;
    heap[slot] = next;
    next.dueSlot = slot;
    slot = child;
  }
  heap[slot] = item;
  item.dueSlot = slot;
}

/** Arms the one timer for the earliest deadline (or none). */
function arm(): void {
  const at = heap.length === 0 ? Number.POSITIVE_INFINITY : heap[0]!.dueAt;
  if (at === timerAt) return;
  if (timer !== undefined) clearTimeout(timer);
  timer = undefined;
  timerAt = at;
  if (at === Number.POSITIVE_INFINITY) return;
  timer = setTimeout(fire, Math.max(0, at - performance.now()));
  // A deadline never keeps a Node process alive, as a connection's own timer did not.
  unrefTimer(timer);
}

function fire(): void {
  timer = undefined;
  timerAt = Number.POSITIVE_INFINITY;
  const now = performance.now();
  // Each item due now is taken out first; `due` may schedule it (or others) again.
  while (heap.length > 0 && heap[0]!.dueAt <= now) {
    const item = heap[0]!;
    removeAt(0);
    try {
      item.due(now);
    } catch (error) {
      // The other deadlines still run; the error surfaces as an uncaught one, as it
      // would from a timer of its own.
      setTimeout(() => {
        throw error;
      }, 0);
    }
  }
  arm();
}
