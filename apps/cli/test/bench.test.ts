import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyway, tempDir } from './helpers.js';

let dir: string;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
});
afterAll(() => cleanup());

describe('keyway bench', () => {
  it('--out writes the JSON it prints and an SVG chart beside it; progress on stderr', async () => {
    const out = join(dir, 'results', 'bench.json');
    const r = await keyway(['bench', '--seconds', '0.2', '--rounds', '1', '--json', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const printed = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(JSON.parse(await readFile(out, 'utf8'))).toEqual(printed);
    expect(printed).toMatchObject({
      rounds: 1,
      seconds: 0.2,
      method: expect.stringContaining('worker thread'),
      machine: { cpus: expect.any(Number), node: process.version },
    });
    const spread = printed.spread as Record<
      string,
      Record<string, { median: number; min: number; max: number }>
    >;
    for (const kind of ['throughput', 'sequential', 'inFlight100']) {
      for (const t of ['keyway', 'tcp']) {
        const s = spread[kind]![t]!;
        expect(s.median, `${kind} ${t}`).toBeGreaterThan(0);
        expect(s.min).toBeLessThanOrEqual(s.median);
        expect(s.max).toBeGreaterThanOrEqual(s.median);
      }
    }
    expect(printed.ratios).toHaveProperty(['throughput.keyway/tcp']);
    const svg = await readFile(join(dir, 'results', 'bench.svg'), 'utf8');
    expect(svg).toMatch(/^<svg /);
    expect(svg).toContain('keyway channel');
    expect(svg).toContain('plain TCP');
    expect(svg).toContain('100 calls in flight');
    // Progress, one line per step when stderr is not a terminal.
    expect(r.stderr).toMatch(/\] 1\/\d+ round 1: /);
    expect(r.stderr).toMatch(/\] (\d+)\/\1 done/);
    expect(r.stderr).toContain(`wrote ${out}`);
  }, 120_000);

  it('prints a table whose columns are explained; --svg writes the chart alone', async () => {
    const svg = join(dir, 'chart.svg');
    const r = await keyway(['bench', '--seconds', '0.2', '--rounds', '1', '--svg', svg]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('Encrypted channel throughput, MB/s');
    expect(r.stdout).toContain('Columns:');
    expect(r.stdout).toMatch(/MB\/s\s+payload megabytes/);
    expect(r.stdout).toMatch(/100 in flight\s+batches of 100 calls/);
    expect(r.stdout).toMatch(/keyway \/ this\s+keyway’s median divided by/);
    expect(await readFile(svg, 'utf8')).toContain('Sequential round trips');
  }, 120_000);

  it('refuses bad --rounds and --seconds with exit code 2', async () => {
    for (const args of [
      ['--rounds', '0'],
      ['--rounds', '1.5'],
      ['--seconds', '0'],
      ['--seconds', 'lots'],
      ['extra'],
    ]) {
      const r = await keyway(['bench', ...args]);
      expect(r.code, args.join(' ')).toBe(2);
    }
  });
});
