import { describe, expect, test } from 'bun:test';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { repoRoot } from './support/processes';

// The documents a reader follows: every relative link (and its #anchor) and every `path/in/backticks`
// that names a file or folder of the repository must exist, so a file moved or renamed in the code
// shows up here instead of in a reader's 404.

const documents = [
  'README.md',
  'bench/README.md',
  ...readdirSync(join(repoRoot, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

// Folders a backticked path may start with: the repository's, plus the ones the docs may name early.
const roots = new Set([
  'api',
  'bench',
  'client',
  'dashboard',
  'db',
  'deploy',
  'docs',
  'domain',
  'lib',
  'queues',
  'scripts',
  'test',
  'workers',
  'wiring',
  '.ci',
  ...readdirSync(repoRoot).filter(
    (f) => f !== 'node_modules' && !f.startsWith('.') && statSync(join(repoRoot, f)).isDirectory(),
  ),
]);

/** The text outside fenced blocks, with the line each piece starts on. */
function prose(markdown: string): { line: number; text: string }[] {
  const out: { line: number; text: string }[] = [];
  let fenced = false;
  markdown.split('\n').forEach((text, i) => {
    if (text.startsWith('```')) fenced = !fenced;
    else if (!fenced) out.push({ line: i + 1, text });
  });
  return out;
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[`*_]/g, '')
    .replace(/[^\p{L}\p{N}\s-]/gu, '')
    .replace(/\s/g, '-');
}

async function anchors(file: string): Promise<Set<string>> {
  const text = await Bun.file(join(repoRoot, file)).text();
  return new Set(
    prose(text)
      .map((l) => /^#{1,6}\s+(.*)$/.exec(l.text)?.[1])
      .filter((h): h is string => h !== undefined)
      .map(slug),
  );
}

/** What in `markdown` (as if it were the file `doc`) points at nothing. */
async function dangling(doc: string, markdown: string): Promise<string[]> {
  const missing: string[] = [];
  for (const { line, text } of prose(markdown)) {
    for (const [, target = ''] of text.matchAll(/!?\[[^\]]*\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/i.test(target)) continue; // https:, mailto:
      const [path = '', anchor] = target.split('#');
      const file = path ? relative(repoRoot, join(repoRoot, dirname(doc), path)) : doc;
      if (!existsSync(join(repoRoot, file))) missing.push(`${doc}:${line}: link ${target}`);
      else if (anchor && file.endsWith('.md') && !(await anchors(file)).has(anchor))
        missing.push(`${doc}:${line}: no heading #${anchor} in ${file}`);
    }
    for (const [, code = ''] of text.matchAll(/`([^`]+)`/g)) {
      // A path alone in its backticks (a file or a folder), or a file named inside a command
      // (`bun run bench/api-only.ts --rates …`); placeholders (`<id>`), globs and ellipses are not paths.
      const alone = /^[\w.-]+\/[\w./-]*$/.test(code) ? [code] : [];
      const inCommand = [...code.matchAll(/(?:^|[\s(=])([\w.-]+\/[\w./-]*\.[a-z]+)(?=$|[\s),;:])/g)].map(
        (m) => m[1] ?? '',
      );
      for (const path of new Set([...alone, ...inCommand])) {
        if (path.includes('..') || !roots.has(path.split('/')[0] ?? '')) continue;
        if (!existsSync(join(repoRoot, path))) missing.push(`${doc}:${line}: \`${path}\``);
      }
    }
  }
  return missing;
}

describe('the docs point at what exists', () => {
  for (const doc of documents) {
    test(`${doc}: relative links, their anchors and backticked paths resolve`, async () => {
      expect(await dangling(doc, await Bun.file(join(repoRoot, doc)).text())).toEqual([]);
    });
  }

  test('a moved file, a broken link and a lost heading are each caught; fenced code is not read', async () => {
    const markdown = [
      'Read `lib/config.ts` and `lib/no-such-file.ts`, [ops](operations.md), [gone](nope.md),',
      'run `bun run scripts/no-such-script.ts --flag`, `bun run scripts/start.ts`,',
      '[a heading](operations.md#no-such-heading), [starting](operations.md#starting), `api/routes/<resource>/`.',
      '```sh',
      'cat lib/fenced-away.ts `lib/fenced-away.ts`',
      '```',
    ].join('\n');
    expect(await dangling('docs/example.md', markdown)).toEqual([
      'docs/example.md:1: link nope.md',
      'docs/example.md:1: `lib/no-such-file.ts`',
      'docs/example.md:2: `scripts/no-such-script.ts`',
      'docs/example.md:3: no heading #no-such-heading in docs/operations.md',
    ]);
  });
});
