/**
 * The service the server benchmark calls (docs/design.md §6 "Targets"), as a module of its own:
 * ThreadPoolServer workers import it as built JavaScript (`dist/server-fixtures/`), and
 * the ThreadedServer runs the same class on the main thread.
 */
import { Service } from '@keyway/core';

/** One tiny method, so a measurement is the cost of the call itself. */
export default class Calculator extends Service {
  /** @returns a + b */
  add(a: number, b: number): number {
    return a + b;
  }

  /** Burns `ms` milliseconds of CPU on the serving thread: a CPU-bound call. */
  spin(ms: number): boolean {
    const end = performance.now() + ms;
    let n = 0;
    while (performance.now() < end) n++;
    return n > 0;
  }
}
