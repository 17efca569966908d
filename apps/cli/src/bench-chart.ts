/**
 * The chart `keyway bench` writes beside its JSON: one panel per measurement (channel
 * MB/s, sequential calls/s, 100-in-flight calls/s), a horizontal bar per transport with
 * its median and a whisker for the range over the rounds. Plain SVG text, no
 * dependencies, readable in any browser.
 */

/** One bar: a label, the median and the range seen. */
export interface ChartBar {
  readonly label: string;
  readonly median: number;
  readonly min: number;
  readonly max: number;
}

/** One panel: a title, a unit, its bars. */
export interface ChartPanel {
  readonly title: string;
  readonly unit: string;
  readonly bars: readonly ChartBar[];
}

const COLORS = ['#1f77b4', '#ff7f0e', '#7f7f7f'];
const WIDTH = 820;
const LABEL = 300;
const PLOT = 400;
const BAR = 22;
const GAP = 8;

const escapeXml = (text: string): string =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** `n` rounded for a label: no decimals from 100 up, thousands with a thin separator. */
function formatNumber(n: number): string {
  return n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(1);
}

/**
 * Renders the panels as one SVG document.
 * @param title the heading
 * @param panels the measurements
 * @param note a line under the chart (machine, rounds, load)
 */
export function renderChart(title: string, panels: readonly ChartPanel[], note: string): string {
  const parts: string[] = [];
  let y = 56;
  for (const panel of panels) {
    parts.push(
      `<text x="10" y="${y}" font-weight="bold">${escapeXml(`${panel.title} (${panel.unit})`)}</text>`,
    );
    y += 12;
    const top = Math.max(1, ...panel.bars.map((b) => b.max));
    for (const [i, bar] of panel.bars.entries()) {
      const scale = (v: number) => LABEL + (PLOT * Math.max(0, v)) / top;
      const color = COLORS[i % COLORS.length];
      parts.push(
        `<text x="${LABEL - 8}" y="${y + BAR * 0.7}" text-anchor="end">${escapeXml(bar.label)}</text>`,
        `<rect x="${LABEL}" y="${y}" width="${(scale(bar.median) - LABEL).toFixed(1)}" height="${BAR}" fill="${color}"/>`,
        `<line x1="${scale(bar.min).toFixed(1)}" x2="${scale(bar.max).toFixed(1)}" y1="${y + BAR / 2}" y2="${y + BAR / 2}" stroke="black"/>`,
        `<text x="${(scale(bar.max) + 6).toFixed(1)}" y="${y + BAR * 0.7}">${escapeXml(formatNumber(bar.median))}</text>`,
      );
      y += BAR + GAP;
    }
    y += 24;
  }
  parts.push(`<text x="10" y="${y}" font-size="11" fill="#555">${escapeXml(note)}</text>`);
  const height = y + 16;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="13">`,
    '<rect width="100%" height="100%" fill="white"/>',
    `<text x="10" y="22" font-size="16" font-weight="bold">${escapeXml(title)}</text>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}
