/**
 * Prints the functions with the most self time in V8 CPU profiles (`node --cpu-prof`), to
 * read the profiles of the payload benchmark (`payload-echo.ts --cpu-prof DIR`) without a
 * browser. Self time is summed per function (name, file, line) over all samples; idle
 * time (`(idle)`) is left out of the percentages.
 *
 * With `--callers NAME`, also shows which call paths (up to 4 frames) the self time of
 * the functions whose name contains NAME came from.
 *
 * Usage: `node dist/profile-top.js [--top N] [--callers NAME] FILE.cpuprofile...`
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Self time in µs per function, busiest first, and the busy (non-idle) total. */
export function selfTimes(profile: Profile): { busyMicros: number; rows: [string, number][] } {
  const nameOf = new Map<number, string>();
  for (const node of profile.nodes) {
    const { functionName, url, lineNumber } = node.callFrame;
    const where = url === '' ? '' : ` ${basename(url)}:${lineNumber + 1}`;
    nameOf.set(node.id, `${functionName || '(anonymous)'}${where}`);
  }
  const self = new Map<string, number>();
  let busy = 0;
  profile.samples.forEach((id, i) => {
    // timeDeltas[i] is the time since the previous sample; charge it to this one.
    const micros = profile.timeDeltas[i] ?? 0;
    const name = nameOf.get(id) ?? '?';
    self.set(name, (self.get(name) ?? 0) + micros);
    if (name !== '(idle)') busy += micros;
  });
  const rows = [...self].filter(([name]) => name !== '(idle)').sort((a, b) => b[1] - a[1]);
  return { busyMicros: busy, rows };
}

/** Self time in µs of the functions named like `name`, by their callers' stack. */
export function callersOf(profile: Profile, name: string, depth = 4): [string, number][] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes)
    for (const child of node.children ?? []) parent.set(child, node.id);
  const label = (n: ProfileNode) => {
    const { functionName, url, lineNumber } = n.callFrame;
    return `${functionName || '(anonymous)'}${url === '' ? '' : ` ${basename(url)}:${lineNumber + 1}`}`;
  };
  const out = new Map<string, number>();
  profile.samples.forEach((id, i) => {
    const node = byId.get(id);
    if (node === undefined || !label(node).includes(name)) return;
    const path: string[] = [];
    let at: number | undefined = id;
    while (at !== undefined && path.length < depth) {
      path.push(label(byId.get(at)!));
      at = parent.get(at);
    }
    const key = path.join(' < ');
    out.set(key, (out.get(key) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  return [...out].sort((a, b) => b[1] - a[1]);
}

function main(): void {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { top: { type: 'string', default: '15' }, callers: { type: 'string' } },
  });
  const top = Number(values.top);
  for (const file of positionals) {
    const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
    const { busyMicros, rows } = selfTimes(profile);
    console.log(`\n${basename(file)}: ${(busyMicros / 1000).toFixed(0)} ms busy`);
    for (const [name, micros] of rows.slice(0, top)) {
      const share = ((100 * micros) / busyMicros).toFixed(1).padStart(5);
      console.log(`  ${share}%  ${(micros / 1000).toFixed(0).padStart(6)} ms  ${name}`);
    }
    if (values.callers !== undefined) {
      console.log(`  callers of ${values.callers}:`);
      for (const [path, micros] of callersOf(profile, values.callers).slice(0, top))
        console.log(`    ${(micros / 1000).toFixed(0).padStart(6)} ms  ${path}`);
    }
  }
}

main();
