/**
 * Citations in code and docs point at something a reader of the repository can open: a
 * `docs/<name>.md` that exists, a `§N` that is one of its numbered sections, a quoted
 * section name that is one of its headings (or a bold paragraph name in docs/design.md),
 * a Markdown link to a file that exists. Nothing cites a document kept outside the
 * repository or an issue tracker's number, which a reader of a clone cannot follow.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');

const SKIP_DIRS = new Set(['node_modules', 'dist', '.git', '.turbo', 'coverage']);
const TEXT_FILE = /\.(ts|mts|cts|js|mjs|cjs|md|json|py|sh|ya?ml|txt)$/;
const SKIP_FILES = new Set(['pnpm-lock.yaml']);

/** Every text file of the repository (sources, tests, docs, configuration), relative. */
function repositoryFiles(dir = root): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!SKIP_DIRS.has(entry.name)) out.push(...repositoryFiles(path));
    } else if (
      (TEXT_FILE.test(entry.name) || path === join(root, '.ci', 'run')) &&
      !SKIP_FILES.has(entry.name)
    ) {
      out.push(relative(root, path).split(sep).join('/'));
    }
  }
  return out;
}

const files = repositoryFiles();
const texts = new Map(files.map((f) => [f, readFileSync(join(root, f), 'utf8')]));

/** What a doc can be cited by: its numbered sections, and its heading and paragraph names. */
function anchorsOf(doc: string): { sections: Set<string>; names: Set<string> } {
  const text = readFileSync(join(root, doc), 'utf8');
  const sections = new Set<string>();
  const names = new Set<string>();
  for (const m of text.matchAll(/^#{1,6}\s+(.+?)\s*$/gm)) {
    const heading = m[1]!;
    const numbered = /^(\d+)\.\s+(.*)$/.exec(heading);
    if (numbered) sections.add(numbered[1]!);
    names.add((numbered ? numbered[2]! : heading).toLowerCase());
  }
  for (const m of text.matchAll(/\*\*([^*\n]+?)\.?\*\*/g)) names.add(m[1]!.toLowerCase());
  return { sections, names };
}

/** Each citation of a doc: the doc, the `§` numbers after it, the quoted names after it. */
function citations(text: string): { doc: string; sections: string[]; names: string[] }[] {
  const out: { doc: string; sections: string[]; names: string[] }[] = [];
  const re = /docs\/([a-z0-9-]+\.md)((?:,? ?§\d+(?:[-–]§?\d+)?)*)((?:,? ?"[^"\n]+")*)/g;
  for (const m of text.matchAll(re)) {
    const sections: string[] = [];
    for (const range of m[2]!.matchAll(/§(\d+)(?:[-–]§?(\d+))?/g)) {
      const from = Number(range[1]);
      const to = Number(range[2] ?? range[1]);
      for (let n = from; n <= to && n - from < 50; n++) sections.push(String(n));
    }
    const names = [...m[3]!.matchAll(/"([^"\n]+)"/g)].map((q) => q[1]!);
    out.push({ doc: `docs/${m[1]!}`, sections, names });
  }
  return out;
}

describe('citations in code and docs', () => {
  it('finds the repository files to read', () => {
    expect(files).toContain('README.md');
    expect(files).toContain('packages/core/src/session.ts');
    expect(files).toContain('docs/design.md');
  });

  it('name only docs/ files that exist, by sections and headings they have', () => {
    const broken: string[] = [];
    let checked = 0;
    for (const [file, text] of texts) {
      for (const { doc, sections, names } of citations(text)) {
        checked++;
        if (!existsSync(join(root, doc))) {
          broken.push(`${file}: ${doc} does not exist`);
          continue;
        }
        const anchors = anchorsOf(doc);
        for (const n of sections) {
          if (!anchors.sections.has(n)) broken.push(`${file}: ${doc} has no §${n}`);
        }
        for (const name of names) {
          if (!anchors.names.has(name.toLowerCase())) {
            broken.push(`${file}: ${doc} has no section "${name}"`);
          }
        }
      }
    }
    expect(checked).toBeGreaterThan(100);
    expect(broken).toEqual([]);
  });

  it('cite no document outside the repository and no issue number', () => {
    // Built from pieces so that this file does not match itself.
    const outside = new RegExp(
      [
        `\\b(${['DESIGN', 'STYLE'].join('|')})\\.md\\b`,
        ['', 'work', ''].join('/'),
        `(^|[\\s(\`'"])${'shared'}/`,
        `\\b(${['[Ii]ssue', 'PR', '[Pp]ull request'].join('|')})s?\\s*#?\\d+\\b`,
        '\\(#\\d+\\)',
      ].join('|'),
    );
    const found: string[] = [];
    for (const [file, text] of texts) {
      text.split('\n').forEach((line, i) => {
        if (outside.test(line)) found.push(`${file}:${i + 1}: ${line.trim()}`);
      });
    }
    expect(found).toEqual([]);
  });

  it('link Markdown to files that exist', () => {
    const broken: string[] = [];
    for (const [file, text] of texts) {
      if (!file.endsWith('.md')) continue;
      for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1]!;
        if (/^(https?:|mailto:|#)/.test(target)) continue;
        const path = join(root, dirname(file), target.replace(/#.*$/, ''));
        if (!existsSync(path)) broken.push(`${file}: ${target}`);
      }
    }
    expect(broken).toEqual([]);
  });
});
