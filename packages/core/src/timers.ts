/**
 * Scheduling that works in every JavaScript runtime — Node, browsers, web workers, Deno,
 * Bun — so that the engine depends on no Node-only global (`setImmediate`, `process`,
 * `NodeJS.Timeout`, a timer's `unref`). Only `setTimeout`, `clearTimeout` and, where
 * present, `MessageChannel` are used; Node's own primitives are picked when they exist.
 */

/** What `setTimeout` returns here: a number in browsers, an object in Node. */
export type TimerHandle = ReturnType<typeof setTimeout>;

/**
 * Lets `handle` not keep a Node process alive; does nothing in runtimes whose timers are
 * plain numbers.
 */
export function unrefTimer(handle: TimerHandle): void {
  const timer = handle as { unref?: unknown } | number;
  if (typeof timer === 'object' && timer !== null && typeof timer.unref === 'function')
    (timer as { unref(): void }).unref();
}

type Scheduler = (callback: () => void) => void;

interface PortLike {
  onmessage: ((event: unknown) => void) | null;
  postMessage(message: unknown): void;
  unref?: () => void;
}

let scheduler: Scheduler | undefined;

/**
 * Runs `callback` on a later turn of the event loop — after the I/O already queued, not
 * as a microtask — as Node's `setImmediate` does.
 * @param callback Called once; an exception it throws is reported as uncaught.
 */
export function nextTurn(callback: () => void): void {
  scheduler ??= pickScheduler();
  scheduler(callback);
}

function pickScheduler(): Scheduler {
  const g = globalThis as unknown as {
    setImmediate?: (callback: () => void) => unknown;
    MessageChannel?: new () => { port1: PortLike; port2: PortLike };
  };
  const setImmediate = g.setImmediate;
  if (typeof setImmediate === 'function') return (callback) => void setImmediate(callback);
  // A message event is a macrotask without the clamping that nested setTimeout(0) gets.
  if (typeof g.MessageChannel === 'function') {
    const channel = new g.MessageChannel();
    const queue: (() => void)[] = [];
    channel.port1.onmessage = () => {
      const batch = queue.splice(0);
      for (const callback of batch) {
        try {
          callback();
        } catch (error) {
          // The others still run; the error surfaces as an uncaught one, as it would
          // from setImmediate.
          setTimeout(() => {
            throw error;
          }, 0);
        }
      }
    };
    // A Node port with a listener would keep the process alive; a flush never should.
    channel.port1.unref?.();
    return (callback) => {
      queue.push(callback);
      if (queue.length === 1) channel.port2.postMessage(null);
    };
  }
  return (callback) => void setTimeout(callback, 0);
}
