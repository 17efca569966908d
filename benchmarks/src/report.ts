/**
 * What every benchmark of `pnpm bench` shares: a progress line on stderr before each
 * measurement (step, total, elapsed time), and its results written as JSON to
 * `benchmarks/results/<name>.json` (`BENCH_RESULTS_DIR` to write elsewhere) beside the
 * table it prints, with the machine it ran on.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const DEFAULT_DIR = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', 'results');

/** One benchmark's progress and results. */
export class BenchReport {
  readonly #name: string;
  readonly #total: number;
  readonly #started = performance.now();
  readonly #results: Record<string, unknown> = {};
  #step = 0;

  /**
   * @param name the file name of the results (`<name>.json`)
   * @param total how many steps {@link step} will be called for
   */
  constructor(name: string, total: number) {
    this.#name = name;
    this.#total = total;
  }

  /** Announces the next measurement on stderr. */
  step(label: string): void {
    this.#step++;
    const seconds = ((performance.now() - this.#started) / 1000).toFixed(0);
    process.stderr.write(`[${this.#name} ${this.#step}/${this.#total}, ${seconds} s] ${label}\n`);
  }

  /** Keeps `value` under `key` in the results. */
  record(key: string, value: unknown): void {
    this.#results[key] = value;
  }

  /**
   * Writes the results with the machine's description.
   * @returns the path written
   */
  save(): string {
    const dir = process.env.BENCH_RESULTS_DIR ?? DEFAULT_DIR;
    mkdirSync(dir, { recursive: true });
    const path = join(dir, `${this.#name}.json`);
    const report = {
      benchmark: this.#name,
      date: new Date().toISOString(),
      machine: {
        node: process.version,
        cpus: availableParallelism(),
        cpuModel: cpus()[0]?.model ?? 'unknown',
        loadAverage: loadavg().map((l) => Math.round(l * 100) / 100),
      },
      seconds: Math.round((performance.now() - this.#started) / 100) / 10,
      results: this.#results,
    };
    writeFileSync(path, `${JSON.stringify(report, null, 2)}\n`);
    process.stderr.write(`[${this.#name}] results written to ${path}\n`);
    return path;
  }
}
