// Sums the "Tests" lines that each package's vitest run printed into one closing line,
// `N passed, N failed` (and `, N skipped`), for the CI log.
import { readFileSync } from 'node:fs';

const ESC = String.fromCharCode(27);
const text = readFileSync(process.argv[2], 'utf8').replaceAll(
  new RegExp(`${ESC}\\[[0-9;]*m`, 'g'),
  '',
);
const totals = { passed: 0, failed: 0, skipped: 0 };
for (const line of text.split('\n')) {
  const m = /\bTests\s+(.*)\(\d+\)\s*$/.exec(line);
  if (!m) continue;
  for (const part of m[1].split('|')) {
    const n = /(\d+)\s+(passed|failed|skipped)/.exec(part);
    if (n) totals[n[2]] += Number(n[1]);
  }
}
const skipped = totals.skipped ? `, ${totals.skipped} skipped` : '';
console.log(`${totals.passed} passed, ${totals.failed} failed${skipped}`);
