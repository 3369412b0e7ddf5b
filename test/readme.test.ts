import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { dropDatabase } from '../db/migrate';
import { deleteKeys, uniqueSuffix } from './support/harness';
import { freePort, repoRoot, type Spawned, spawnBun } from './support/processes';
import { eventually } from './support/workers';

// The README as a reader runs it: `bun run start` on a fresh database with the default settings (rate
// limits and fraud thresholds included), then every ```sh and ```ts block in order, in one shell
// session (a block's variables reach the next), the TypeScript ones typechecked and run with `bun run`
// from a folder where `./client` is the repository's client. A fence with `no-run` in its info string
// is skipped; any other language fails, so no block escapes the test.

interface Block {
  lang: 'sh' | 'ts';
  /** 1-based line of the opening fence in README.md. */
  line: number;
  text: string;
}

const readme = await Bun.file(join(repoRoot, 'README.md')).text();

function readmeBlocks(markdown: string): { run: Block[]; other: string[] } {
  const run: Block[] = [];
  const other: string[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)\s*(.*)$/.exec(lines[i] ?? '');
    if (!open) continue;
    const end = lines.findIndex((l, j) => j > i && l.startsWith('```'));
    if (end < 0) throw new Error(`README.md:${i + 1}: a fence that is never closed`);
    const [, lang = '', info = ''] = open;
    if (!/\bno-run\b/.test(info)) {
      if (lang === 'sh' || lang === 'ts')
        run.push({ lang, line: i + 1, text: lines.slice(i + 1, end).join('\n') });
      else other.push(`README.md:${i + 1}: \`\`\`${lang} ${info}`);
    }
    i = end;
  }
  return { run, other };
}

const { run: blocks, other } = readmeBlocks(readme);

// What each block must print, found by a word only that block has: an exit code of 0 is not enough
// (curl answers a 422 problem with exit 0).
const expectations: { what: string; lang: Block['lang']; marker: string; stdout: RegExp[] }[] = [
  {
    what: 'the curl order completes, is paid once and takes two from stock',
    lang: 'sh',
    marker: 'tok_visa',
    stdout: [
      /"status":"completed","timeline":\["pending","reserved","paid","completed"\]/,
      /"status":"succeeded","amountCents":2400/,
      /"available":8,"reserved":0/,
    ],
  },
  {
    what: "the typed client's order completes, and cancelling it then is refused",
    lang: 'ts',
    marker: 'createOrderflowClient',
    stdout: [/^completed \[ "pending", "reserved", "paid", "completed" \]$/m, /^succeeded$/m, /^409$/m],
  },
  {
    what: 'the order in review is listed, approved and completed',
    lang: 'sh',
    marker: 'tok_riskLevelElevated',
    stdout: [/"decision":"review","reasons":\["test_token_elevated"/, /^reserved$/m, /completed\s*$/],
  },
  {
    what: 'the declined card ends payment_failed',
    lang: 'sh',
    marker: 'tok_chargeDeclined',
    stdout: [/\{"status":"payment_failed","failureReason":"card_declined"\}/],
  },
];

const suffix = uniqueSuffix();
const prefix = `oftest_${suffix}`;
const redisUrl = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const databaseUrl = `${process.env.TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306'}/${prefix}`;
const work = mkdtempSync(join(tmpdir(), 'orderflow-readme-'));
const state = join(work, 'shell-state.sh');
let server: Spawned | undefined;
let api = '';
let broken = '';

/** The admin the README exports before `bun run start`: the server gets the same one. */
function readmeAdmin(): { email: string; password: string } {
  const m = /export ADMIN_EMAIL=(\S+) ADMIN_PASSWORD=(\S+)/.exec(readme);
  if (!m?.[1] || !m[2]) throw new Error('README.md no longer exports ADMIN_EMAIL and ADMIN_PASSWORD');
  return { email: m[1], password: m[2] };
}

beforeAll(async () => {
  // `./client` and the packages resolve from the scratch folder as from the repository's.
  symlinkSync(join(repoRoot, 'client'), join(work, 'client'));
  symlinkSync(join(repoRoot, 'node_modules'), join(work, 'node_modules'));
  writeFileSync(
    join(work, 'tsconfig.json'),
    JSON.stringify({ extends: join(repoRoot, 'tsconfig.json'), include: ['block-*.ts'] }),
  );

  const port = await freePort();
  api = `http://127.0.0.1:${port}`;
  const admin = readmeAdmin();
  server = spawnBun(['run', 'start'], {
    NODE_ENV: 'development',
    LOG_LEVEL: 'warn',
    PORT: String(port),
    DATABASE_URL: databaseUrl,
    REDIS_URL: redisUrl,
    QUEUE_PREFIX: prefix,
    JWT_SECRET: 'readme-test-secret-readme-test-secret-01',
    ADMIN_EMAIL: admin.email,
    ADMIN_PASSWORD: admin.password,
    API_PROCESSES: '1',
    WORKER_PROCESSES: '1',
  });
  const proc = server.proc;
  await eventually(
    async () => {
      if (proc.exitCode !== null)
        throw new Error(`bun run start exited ${proc.exitCode}: ${server?.text.join('\n')}`);
      return fetch(`${api}/health/ready`).then(
        (r) => r.status,
        () => 0,
      );
    },
    (status) => status === 200,
    60_000,
  );
}, 90_000);

afterAll(async () => {
  if (server && server.proc.exitCode === null) {
    server.proc.kill('SIGTERM');
    const timer = setTimeout(() => server?.proc.kill('SIGKILL'), 30_000);
    await server.proc.exited;
    clearTimeout(timer);
  }
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  await deleteKeys(redis, prefix);
  redis.disconnect();
  await dropDatabase(databaseUrl);
  rmSync(work, { recursive: true, force: true });
}, 60_000);

/**
 * Runs one command in bash as the next line typed into the reader's terminal: the variables of the
 * blocks before it are there (restored from `state`), and its own are saved for the next block.
 */
async function inSession(
  command: string,
  timeoutMs: number,
): Promise<{ code: number; out: string; err: string }> {
  const script = join(work, 'session.sh');
  writeFileSync(
    script,
    [
      'set -euo pipefail',
      `__base=" $(compgen -v | tr '\\n' ' ') "`,
      `[ -f '${state}' ] && source '${state}'`,
      command,
      '',
      `for __v in $(compgen -v); do`,
      `  case "$__base" in *" $__v "*) continue;; esac`,
      `  case "$__v" in __*|BASH*) continue;; esac`,
      // `jq -r .id` of a problem+json answer is "null": a request the README makes got another answer.
      `  case "\${!__v-}" in null|'') echo "README variable $__v is '\${!__v-}'" >&2; exit 3;; esac`,
      `  declare -p "$__v"`,
      `done > '${state}.next'`,
      `mv '${state}.next' '${state}'`,
    ].join('\n'),
  );
  const proc = Bun.spawn(['bash', script], {
    cwd: work,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', API: api },
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
  });
  const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
  const [out, err, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  clearTimeout(timer);
  return { code, out, err };
}

describe('README.md runs as written', () => {
  test('every fenced block is a runnable sh or ts block, or marked no-run', () => {
    expect(other).toEqual([]);
    expect(blocks.length).toBeGreaterThan(0);
  });

  test('each expected output belongs to a block', () => {
    for (const e of expectations) {
      expect(
        blocks.some((b) => b.lang === e.lang && b.text.includes(e.marker)),
        `no ${e.lang} block mentions ${e.marker} (${e.what})`,
      ).toBe(true);
    }
  });

  test('the TypeScript blocks typecheck', async () => {
    blocks.forEach((b, i) => {
      if (b.lang === 'ts') writeFileSync(join(work, `block-${i}.ts`), b.text);
    });
    const tsc = Bun.spawn([join(repoRoot, 'node_modules', '.bin', 'tsc'), '--noEmit', '-p', work], {
      cwd: work,
      stdout: 'pipe',
      stderr: 'pipe',
    });
    const [out, code] = await Promise.all([new Response(tsc.stdout).text(), tsc.exited]);
    expect(out.replaceAll(`${work}/`, 'README block ')).toBe('');
    expect(code).toBe(0);
  }, 60_000);

  blocks.forEach((block, i) => {
    const first = block.text.split('\n').find((l) => l.trim() && !l.startsWith('#')) ?? '';
    test(`block ${i + 1}, README.md:${block.line} (${block.lang}): ${first.slice(0, 60)}`, async () => {
      if (broken) throw new Error(`not run: ${broken} failed first`);
      broken = `README.md:${block.line}`;
      const file = join(work, `block-${i}.ts`);
      if (block.lang === 'ts') writeFileSync(file, block.text);
      const command = block.lang === 'ts' ? `bun run '${file}'` : block.text;
      const { code, out, err } = await inSession(command, 45_000);
      const shown = `README.md:${block.line} exited ${code}\n--- stdout\n${out}\n--- stderr\n${err}`;
      expect(code, shown).toBe(0);
      for (const e of expectations.filter((x) => x.lang === block.lang && block.text.includes(x.marker))) {
        for (const pattern of e.stdout) expect(out, `${e.what}: ${pattern}\n${shown}`).toMatch(pattern);
      }
      broken = '';
    }, 60_000);
  });

  test("what the README says of screening and a customer's history holds", async () => {
    if (broken) throw new Error(`not run: ${broken} failed first`);
    // Ada (TOKEN) has used tok_visa and tok_riskLevelElevated; Bob (BOB) one declined card.
    const { out } = await inSession('echo "$TOKEN $BOB $PRODUCT"', 10_000);
    const [ada, bob, product] = out.trim().split(' ');
    const place = async (token: string) => {
      const res = await fetch(`${api}/orders`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          items: [{ productId: product, quantity: 1 }],
          payment: { token: 'tok_chargeDeclined' },
        }),
      });
      expect(res.status).toBe(202);
      const { id } = (await res.json()) as { id: string };
      return eventually(
        async () =>
          (await (
            await fetch(`${api}/orders/${id}`, { headers: { authorization: `Bearer ${token}` } })
          ).json()) as {
            status: string;
            risk?: { score: number; decision: string };
          },
        // A declined card never stays in review (no authorization to hold): wait for a final status.
        (o) => ['payment_failed', 'completed', 'rejected', 'failed', 'cancelled'].includes(o.status),
      );
    };
    expect((await place(ada as string)).status).toBe('payment_failed');
    // Screening sends the retry to review, and an order in review must hold an authorization: the
    // declined card cannot give one, so it ends payment_failed, with the review decision on record.
    const again = await place(ada as string);
    expect(again.status).toBe('payment_failed');
    expect(again.risk?.decision).toBe('review');
    expect(again.risk?.score).toBeGreaterThan(0.7);
    expect((await place(bob as string)).status).toBe('payment_failed');
  }, 60_000);
});
