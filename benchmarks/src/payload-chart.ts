/**
 * A grouped bar chart of MiB/s by payload size for the payload benchmark
 * (`payload-echo.ts`), written as plain SVG text: no dependencies, readable in any
 * browser or image viewer.
 */

/** One variant's bars, one value per group (`undefined` when not measured). */
export interface ChartSeries {
  label: string;
  values: readonly (number | undefined)[];
}

const COLORS = ['#7f7f7f', '#1f77b4', '#9467bd', '#d62728', '#ff7f0e', '#2ca02c'];

const escapeXml = (text: string): string =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A round axis maximum at or above `value`: 1, 2 or 5 times a power of ten. */
function niceMax(value: number): number {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

/**
 * @param title - the heading
 * @param groups - the x-axis groups (payload sizes)
 * @param series - one bar per group for each variant
 * @param note - a line under the chart (machine, rounds, load)
 * @returns the SVG document
 */
export function barChart(
  title: string,
  groups: readonly string[],
  series: readonly ChartSeries[],
  note: string,
): string {
  const width = 760;
  const height = 420;
  const left = 70;
  const right = 190;
  const top = 50;
  const bottom = 70;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const max = niceMax(Math.max(0, ...series.flatMap((s) => s.values.map((v) => v ?? 0))));
  const y = (v: number) => top + plotH - (v / max) * plotH;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${left}" y="24" font-size="15" font-weight="bold">${escapeXml(title)}</text>`,
  );
  for (let i = 0; i <= 5; i++) {
    const v = (max * i) / 5;
    out.push(
      `<line x1="${left}" y1="${y(v)}" x2="${left + plotW}" y2="${y(v)}" stroke="#ddd"/>`,
      `<text x="${left - 6}" y="${y(v) + 4}" text-anchor="end">${Math.round(v).toLocaleString('en-US')}</text>`,
    );
  }
  out.push(
    `<text transform="translate(18 ${top + plotH / 2}) rotate(-90)" text-anchor="middle">MiB/s each way</text>`,
  );
  const groupW = plotW / groups.length;
  const barW = Math.min(28, (groupW * 0.8) / Math.max(1, series.length));
  groups.forEach((group, g) => {
    const x0 = left + g * groupW + (groupW - barW * series.length) / 2;
    series.forEach((s, i) => {
      const v = s.values[g];
      const x = x0 + i * barW;
      if (v === undefined) {
        out.push(
          `<text x="${x + barW / 2}" y="${top + plotH - 4}" text-anchor="middle" font-size="10" fill="#999">–</text>`,
        );
        return;
      }
      out.push(
        `<rect x="${x.toFixed(1)}" y="${y(v).toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${(top + plotH - y(v)).toFixed(1)}" fill="${COLORS[i % COLORS.length]}"><title>${escapeXml(`${s.label}, ${group}: ${Math.round(v)} MiB/s`)}</title></rect>`,
        `<text x="${(x + barW / 2 - 1).toFixed(1)}" y="${(y(v) - 3).toFixed(1)}" text-anchor="middle" font-size="9">${Math.round(v)}</text>`,
      );
    });
    out.push(
      `<text x="${left + g * groupW + groupW / 2}" y="${top + plotH + 18}" text-anchor="middle">${escapeXml(group)}</text>`,
    );
  });
  out.push(
    `<line x1="${left}" y1="${top + plotH}" x2="${left + plotW}" y2="${top + plotH}" stroke="#333"/>`,
  );
  series.forEach((s, i) => {
    const ly = top + 10 + i * 20;
    out.push(
      `<rect x="${left + plotW + 20}" y="${ly - 10}" width="12" height="12" fill="${COLORS[i % COLORS.length]}"/>`,
      `<text x="${left + plotW + 38}" y="${ly}">${escapeXml(s.label)}</text>`,
    );
  });
  out.push(
    `<text x="${left}" y="${height - 20}" font-size="11" fill="#555">${escapeXml(note)}</text>`,
    '</svg>',
  );
  return `${out.join('\n')}\n`;
}
