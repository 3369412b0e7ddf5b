/**
 * `bun run bench/profile-paths.ts FILE.cpuprofile [--top 40] [--under PATTERN] [--vs BEFORE.cpuprofile [--self]]`
 *
 * Where a process spent its samples, by count (a sample's weight in Bun's profiles is unreliable:
 * one sample can carry seconds). A `.cpuprofile` comes from `bench/orders.ts --profile DIR
 * --profile-json`. Prints, per function (name, file and line), the share of samples in which it was
 * on the stack (inclusive) and on top of it (self); `--under PATTERN` keeps only the samples with a
 * frame whose `name file` matches, to see what one path spends its share on. `--vs BEFORE` prints
 * sample counts of both instead, sorted by what grew most (the runs should have served as many
 * orders: `bench/orders.ts --quick --saturation-only` runs do, near enough).
 */
import { readFileSync } from 'node:fs';

interface Frame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: Frame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
}

const args = process.argv.slice(2);
const file = args[0];
if (!file) {
  console.error('usage: bun run bench/profile-paths.ts FILE.cpuprofile [--top 40] [--under PATTERN]');
  process.exit(2);
}
const option = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const top = Number(option('top') ?? 40);
const flagSelf = args.includes('--self');
const under = option('under');
const underRe = under ? new RegExp(under) : undefined;

function count(path: string): {
  total: number;
  counted: number;
  inclusive: Map<string, number>;
  self: Map<string, number>;
} {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const inclusive = new Map<string, number>();
  const self = new Map<string, number>();
  let counted = 0;
  for (const id of profile.samples) {
    const stack: string[] = [];
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const node = byId.get(at);
      if (node) stack.push(label(node.callFrame));
    }
    if (underRe && !stack.some((s) => underRe.test(s))) continue;
    counted++;
    const top0 = stack[0];
    if (top0) self.set(top0, (self.get(top0) ?? 0) + 1);
    for (const s of new Set(stack)) inclusive.set(s, (inclusive.get(s) ?? 0) + 1);
  }
  return { total: profile.samples.length, counted, inclusive, self };
}

const root = process.cwd();
const label = (f: Frame) =>
  `${f.functionName || '(anonymous)'} ${f.url.replace(`${root}/`, '').replace(/^.*node_modules\//, '~')}${f.lineNumber >= 0 ? `:${f.lineNumber + 1}` : ''}`;

const vs = option('vs');
if (vs) {
  const after = count(file);
  const before = count(vs);
  console.log(`samples: ${before.counted} before, ${after.counted} after`);
  // --self: samples on top of the stack (what the function itself ran), not inclusive.
  const which = flagSelf ? 'self' : 'inclusive';
  console.log(`before  after   +/-   function (${which} samples)`);
  const names = new Set([...after[which].keys(), ...before[which].keys()]);
  const rows = [...names].map((n) => ({ n, a: after[which].get(n) ?? 0, b: before[which].get(n) ?? 0 }));
  for (const r of rows.sort((x, y) => y.a - y.b - (x.a - x.b)).slice(0, top)) {
    console.log(
      `${String(r.b).padStart(6)} ${String(r.a).padStart(6)} ${String(r.a - r.b).padStart(6)}   ${r.n}`,
    );
  }
  process.exit(0);
}
const { total, counted, inclusive, self } = count(file);
const pct = (n: number) => `${((100 * n) / total).toFixed(1)}%`.padStart(6);
console.log(`${total} samples${underRe ? `, ${counted} (${pct(counted).trim()}) under /${under}/` : ''}`);
console.log('incl.  self   function');
for (const [name, n] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, top)) {
  console.log(`${pct(n)} ${pct(self.get(name) ?? 0)}  ${name}`);
}
