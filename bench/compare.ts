/**
 * `bun run bench/compare.ts --feature tracing|webhook [--rounds 3] [--processes 1] [--warmup 3] [--seconds 3]`
 *
 * What one feature costs the order path, in one run: `bench/orders.ts` at saturation without the
 * feature and with it, alternated (off, on, off, on, …) so that the machine's drift between runs
 * falls on both sides alike. Each run divides its completed rate by its own bare-flow ceiling; the
 * feature's figure is the mean of the `on` ratios over the mean of the `off` ones, with the cost per
 * order of each side. Writes bench/results/<date>-compare-<feature>.json (the runs' own files are
 * removed: this one holds what they measured).
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';

const args = process.argv.slice(2);
const option = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const feature = option('feature');
if (feature !== 'tracing' && feature !== 'webhook') {
  console.error('usage: bun run bench/compare.ts --feature tracing|webhook [--rounds 3] [--processes 1]');
  process.exit(2);
}
const rounds = Number(option('rounds') ?? 3);
const processes = option('processes') ?? '1';
// Passed on to bench/orders.ts: --warmup N (seconds of unmeasured load first), --seconds N (each run's).
const passed = ['warmup', 'seconds'].flatMap((name) => {
  const value = option(name);
  return value === undefined ? [] : [`--${name}`, value];
});
const root = new URL('..', import.meta.url).pathname;

interface Run {
  completedPerSecond: number;
  completedOverFlowCeiling: number;
  costPerOrder: Record<string, number>;
}

async function once(on: boolean, round: number): Promise<Run> {
  const label = `compare-${feature}-${on ? 'on' : 'off'}-${round}`;
  const cmd = [
    'bun',
    'run',
    'bench/orders.ts',
    '--quick',
    '--saturation-only',
    '--processes',
    processes,
    '--label',
    label,
    ...passed,
    ...(on ? [`--${feature}`] : []),
  ];
  const p = Bun.spawn(cmd, { cwd: root, stdout: 'ignore', stderr: 'inherit' });
  if ((await p.exited) !== 0) throw new Error(`${cmd.join(' ')} failed`);
  const file = `${root}bench/results/${new Date().toISOString().slice(0, 10)}-${label}.json`;
  const result = JSON.parse(readFileSync(file, 'utf8')) as { runs: Run[] };
  rmSync(file);
  const run = result.runs[0];
  if (!run) throw new Error(`${file} holds no run`);
  return run;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const median = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};
const r3 = (x: number) => Math.round(x * 1000) / 1000;

const off: Run[] = [];
const on: Run[] = [];
for (let i = 1; i <= rounds; i++) {
  off.push(await once(false, i));
  on.push(await once(true, i));
  console.log(
    `round ${i}: off ${off.at(-1)?.completedOverFlowCeiling} ÷ flow, ${feature} on ${on.at(-1)?.completedOverFlowCeiling} ÷ flow`,
  );
}
const keys = [
  'sqlStatements',
  'dataFsyncs',
  'redisCommands',
  'apiCpuMsPerAccepted',
  'workerCpuMsPerCompleted',
  'mariadbCpuMsPerCompleted',
  'redisCpuMsPerCompleted',
];
const side = (runs: Run[]) => ({
  overFlow: r3(mean(runs.map((r) => r.completedOverFlowCeiling))),
  completedPerSecond: Math.round(mean(runs.map((r) => r.completedPerSecond))),
  costPerOrder: Object.fromEntries(keys.map((k) => [k, r3(mean(runs.map((r) => r.costPerOrder[k] ?? 0)))])),
});
const summary = {
  date: new Date().toISOString(),
  feature,
  rounds,
  workerProcesses: Number(processes),
  off: side(off),
  on: side(on),
  passed,
  ratio: r3(
    mean(on.map((r) => r.completedOverFlowCeiling)) / mean(off.map((r) => r.completedOverFlowCeiling)),
  ),
  // Each round's own on ÷ off, and their median: one round's machine weather moves one ratio, not the figure.
  roundRatios: on.map((r, i) => r3(r.completedOverFlowCeiling / (off[i] as Run).completedOverFlowCeiling)),
  medianRoundRatio: r3(
    median(on.map((r, i) => r.completedOverFlowCeiling / (off[i] as Run).completedOverFlowCeiling)),
  ),
  runs: { off, on },
};
console.log(`\n| ${feature} | ÷ flow | completed/s | ${keys.join(' | ')} |`);
console.log(`| --- | ---: | ---: |${' ---: |'.repeat(keys.length)}`);
for (const [name, s] of [
  ['off', summary.off],
  ['on', summary.on],
] as const) {
  console.log(
    `| ${name} | ${s.overFlow} | ${s.completedPerSecond} | ${keys.map((k) => s.costPerOrder[k]).join(' | ')} |`,
  );
}
console.log(
  `\n${feature} on ÷ off: ${summary.ratio}× (budget ≥ 0.85×), mean of ${rounds} alternated runs each; median of the rounds' own ratios ${summary.medianRoundRatio}× (${summary.roundRatios.join(', ')})`,
);
const out = `${root}bench/results/${summary.date.slice(0, 10)}-compare-${feature}.json`;
writeFileSync(out, `${JSON.stringify(summary, null, 2)}\n`);
console.log(`wrote ${out}`);
