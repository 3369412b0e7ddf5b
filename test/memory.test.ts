import { heapStats } from 'bun:jsc';
import { describe, expect, test } from 'bun:test';
import { createPool } from '../db/client';
import { applyHeapGrowth, EDEN_RATIO_VARIABLE, HEAP_GROWTH_VARIABLE, heapOptions } from '../lib/js-heap';
import { testConfig } from './support/harness';

const root = new URL('..', import.meta.url).pathname;

/** Runs `code` in a fresh `bun -e` process from the repository root; its stdout, stderr and pid. */
async function bunEval(code: string, env: Record<string, string> = {}) {
  const proc = Bun.spawn([process.execPath, '-e', code], {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? '/tmp',
      LOG_LEVEL: 'silent',
      ...env,
    },
    stdout: 'pipe',
    stderr: 'pipe',
  });
  const [stdout, stderr, code_] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { stdout, stderr, exitCode: code_, pid: proc.pid };
}

/** The node_modules packages and repository files a fresh process holds after importing `modules`. */
async function moduleGraph(modules: string[]) {
  const imports = modules.map((m) => `await import(${JSON.stringify(`${root}${m}`)});`).join(' ');
  const run = await bunEval(`${imports} console.log(JSON.stringify(Object.keys(require.cache)));`);
  expect(run.stderr).toBe('');
  const files = JSON.parse(run.stdout) as string[];
  const packages = new Set(
    files.flatMap((f) => {
      const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(f);
      return m?.[1] ? [m[1]] : [];
    }),
  );
  return {
    packages,
    files: files.filter((f) => !f.includes('node_modules')).map((f) => f.slice(root.length)),
  };
}

describe('what a process loads at start', () => {
  test('the API loads the queue dashboard and the docs page only when first asked for them', async () => {
    const { packages } = await moduleGraph(['api/start/server.ts']);
    expect(packages.has('hono')).toBe(true);
    for (const lazy of [
      '@bull-board/api',
      '@bull-board/hono',
      '@bull-board/ui',
      '@scalar/hono-api-reference',
    ]) {
      expect(packages.has(lazy), lazy).toBe(false);
    }
  });

  test('a worker loads none of the HTTP edge', async () => {
    const { packages, files } = await moduleGraph(['workers/main.ts']);
    expect(packages.has('bullmq')).toBe(true);
    for (const apiOnly of ['hono', '@hono/zod-openapi', '@bull-board/api', '@scalar/hono-api-reference']) {
      expect(packages.has(apiOnly), apiOnly).toBe(false);
    }
    expect(files.filter((f) => f.startsWith('api/') || f.startsWith('dashboard/'))).toEqual([]);
  });
});

describe('JS_HEAP_GROWTH', () => {
  test('a process started without it replaces itself with one that runs with it', () => {
    const calls: { file: string; args: string[]; env: Record<string, string | undefined> }[] = [];
    const exec = (file: string, args: string[], env: Record<string, string | undefined>) => {
      calls.push({ file, args, env });
    };
    expect(applyHeapGrowth(0.25, { KEEP: 'me' }, exec)).toBe(false);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.file).toBe(process.execPath);
    expect(calls[0]?.args).toEqual([process.execPath, ...process.execArgv, ...process.argv.slice(1)]);
    expect(calls[0]?.env).toEqual({
      KEEP: 'me',
      [HEAP_GROWTH_VARIABLE]: '0.25',
      [EDEN_RATIO_VARIABLE]: '0.15',
    });

    // Once it runs with the option (or an operator's own), or asks for JSC's default: nothing to do.
    expect(applyHeapGrowth(0.25, { [HEAP_GROWTH_VARIABLE]: '0.25' }, exec)).toBe(true);
    expect(applyHeapGrowth(0.25, { [HEAP_GROWTH_VARIABLE]: '1' }, exec)).toBe(true);
    expect(applyHeapGrowth(2, {}, exec)).toBe(true);
    expect(calls).toHaveLength(1);
  });

  test('young collections stay the rule: the eden ratio is under the allowance after a full collection', () => {
    expect(heapOptions(0.25)[EDEN_RATIO_VARIABLE]).toBe('0.15');
    // Right after a full collection the allowance is g / (1 + g) of the limit: at or above it, every
    // collection would be a full one.
    for (const g of [0.05, 0.25, 0.5, 1, 2]) {
      expect(Number(heapOptions(g)[EDEN_RATIO_VARIABLE])).toBeLessThan(g / (1 + g));
    }
  });

  test('start-up hands it to JavaScriptCore: same process, the option set before the VM starts', async () => {
    // BUN_JSC_dumpOptions=1 makes the runtime print the options it started with, at every start.
    const run = await bunEval(
      `import { preflight } from './wiring/startup'; await preflight();
       console.log(JSON.stringify({ pid: process.pid, growth: process.env.${HEAP_GROWTH_VARIABLE} }));`,
      { BUN_JSC_dumpOptions: '1', JS_HEAP_GROWTH: '0.3' },
    );
    expect(run.exitCode).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({ pid: run.pid, growth: '0.3' });
    expect(run.stderr).toMatch(/^\s*heapGrowthMaxIncrease=0\.3\b/m);
    expect(run.stderr).toMatch(/^\s*minEdenToOldGenerationRatio=0\.1731\b/m);
  });
});

describe('a MySQL connection', () => {
  test('holds no room for thousands of prepared statements (mysql2 reserves it per connection)', async () => {
    // The server, not a database: nothing is created or read.
    const server = testConfig('memory').DATABASE_URL.replace(/\/[^/]*$/, '/');
    const size = 20;
    const pool = createPool(server, size);
    const use = (n: number) =>
      Promise.all(
        Array.from({ length: n }, async () => {
          const c = await pool.getConnection();
          await c.query('SELECT SLEEP(0.02)');
          c.release();
        }),
      );
    const heap = () => {
      Bun.gc(true);
      return heapStats().heapSize;
    };
    try {
      await use(1);
      await use(1); // one connection open, its code paths run
      const one = heap();
      await use(size);
      const perConnection = (heap() - one) / (size - 1);
      // mysql2's default cache (16,000 entries) reserved 0.5 MB of heap per connection.
      expect(perConnection).toBeLessThan(100 * 1024);
    } finally {
      await pool.end().catch(() => {});
    }
  });
});
