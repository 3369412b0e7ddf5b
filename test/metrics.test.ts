import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mergeExpositions } from '../wiring/metrics';
import { createHarness, type Harness } from './support/harness';
import { shop } from './support/shop';

let h: Harness;
let admin: { token: string };
let user: { token: string };

beforeAll(async () => {
  // The count is not reused here, so each scrape shows the orders just placed (test/metrics-cache.test.ts covers reuse).
  h = await createHarness({ METRICS_ORDERS_CACHE_SECONDS: '0' });
  admin = await h.signUp('admin');
  user = await h.signUp('user');
});
afterAll(async () => {
  await h.cleanup();
});

async function scrape(): Promise<string> {
  const res = await h.app.request('/metrics');
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toStartWith('text/plain; version=0.0.4');
  return res.text();
}

type Labels = Record<string, string>;

/** The samples of one metric in a Prometheus text exposition, with their labels parsed. */
function samples(text: string, name: string): { labels: Labels; value: number }[] {
  const out: { labels: Labels; value: number }[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const labels: Labels = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      if (l[1]) labels[l[1]] = l[2] ?? '';
    }
    out.push({ labels, value: Number(m[3]) });
  }
  return out;
}

function value(text: string, name: string, labels: Labels): number | undefined {
  return samples(text, name).find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

async function promtool(text: string): Promise<{ code: number; output: string }> {
  const bin = Bun.which('promtool');
  if (!bin) throw new Error('promtool is missing: run .ci/system-deps (installs Debian package prometheus)');
  const proc = Bun.spawn([bin, 'check', 'metrics'], { stdin: 'pipe', stdout: 'pipe', stderr: 'pipe' });
  proc.stdin.write(text);
  await proc.stdin.end();
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { code, output: stdout + stderr };
}

describe('GET /metrics', () => {
  test('answers Prometheus text that promtool accepts, with every family the API promises', async () => {
    await h.app.request('/health/live');
    await h.json('GET', '/products');
    const text = await scrape();
    const check = await promtool(text);
    expect(check.output).toBe('');
    expect(check.code).toBe(0);
    for (const family of [
      'http_requests_total',
      'http_request_duration_seconds',
      'orders_by_status',
      'rate_limit_rejections_total',
      'cache_hits_total',
      'cache_misses_total',
      'circuit_state',
      'bullmq_jobs',
      'bullmq_job_completed_total',
      'bullmq_job_failed_total',
    ]) {
      // Each family is declared exactly once even though BullMQ repeats its headers per queue.
      expect(text.split('\n').filter((l) => l.startsWith(`# TYPE ${family} `))).toHaveLength(1);
    }
    for (const queue of ['reserve', 'charge', 'notify', 'maintenance']) {
      expect(value(text, 'bullmq_jobs', { queue, state: 'waiting' })).toBeNumber();
    }
  });

  test('queue depth rises while jobs wait (no workers running)', async () => {
    const before = value(await scrape(), 'bullmq_jobs', { queue: 'reserve', state: 'waiting' }) ?? -1;
    const reserve = h.deps.queues.queues.reserve;
    await Promise.all(
      [1, 2, 3].map((i) => reserve.add('metrics-probe', { orderId: `probe-${i}` }, { jobId: `probe-${i}` })),
    );
    const after = value(await scrape(), 'bullmq_jobs', { queue: 'reserve', state: 'waiting' });
    expect(after).toBe(before + 3);
    await reserve.drain();
  });

  test('http_requests_total counts by route pattern, never by raw path', async () => {
    const ids = ['metrics-missing-1', 'metrics-missing-2'];
    for (const id of ids) expect((await h.json('GET', `/products/${id}`)).status).toBe(404);
    await h.json('GET', '/no/such/route');
    const text = await scrape();
    expect(value(text, 'http_requests_total', { method: 'GET', route: '/products/:id', status: '404' })).toBe(
      2,
    );
    expect(
      value(text, 'http_request_duration_seconds_count', {
        method: 'GET',
        route: '/products/:id',
        status: '404',
      }),
    ).toBe(2);
    expect(value(text, 'http_requests_total', { method: 'GET', route: '(unmatched)', status: '404' })).toBe(
      1,
    );
    for (const id of ids) expect(text).not.toContain(id);
    expect(text).not.toContain('/no/such/route');
  });

  test('with METRICS_ORDERS_CACHE_SECONDS=0, orders_by_status reads MySQL on each scrape', async () => {
    const s = shop(h, admin);
    const p = await s.product(5);
    const zero = await scrape();
    expect(value(zero, 'orders_by_status', { status: 'completed' })).toBe(0);
    const pendingBefore = value(zero, 'orders_by_status', { status: 'pending' }) ?? 0;
    expect((await s.place(user.token, p, 1)).status).toBe(202);
    expect((await s.place(user.token, p, 1)).status).toBe(202);
    const after = await scrape();
    expect(value(after, 'orders_by_status', { status: 'pending' })).toBe(pendingBefore + 2);
    expect(value(after, 'metrics_source_up', { source: 'orders' })).toBe(1);
    expect(value(after, 'metrics_source_up', { source: 'queues' })).toBe(1);
  });

  test('the merge keeps one header per family and groups its samples', () => {
    const a =
      '# HELP x_total X\n# TYPE x_total counter\nx_total{q="a"} 1\n# HELP y Y\n# TYPE y gauge\ny{q="a"} 2';
    const b =
      '# HELP x_total X\n# TYPE x_total counter\nx_total{q="b"} 3\n# HELP y Y\n# TYPE y gauge\ny{q="b"} 4';
    expect(mergeExpositions([a, b])).toBe(
      '# HELP x_total X\n# TYPE x_total counter\nx_total{q="a"} 1\nx_total{q="b"} 3\n' +
        '# HELP y Y\n# TYPE y gauge\ny{q="a"} 2\ny{q="b"} 4\n',
    );
  });
});
