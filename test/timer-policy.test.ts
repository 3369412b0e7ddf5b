import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { groupCommitOptions, type ItemResult, MicroBatcher } from '../lib/batcher';
import { createGateway } from '../wiring/adapters';
import { createHarness, type Harness } from './support/harness';
import { statuses } from './support/orders';
import { shop } from './support/shop';
import { CountingGateway, CountingTransports } from './support/stand-ins';
import { drained, eventually, startTestWorkers, type TestWorkers } from './support/workers';

// GROUP_COMMIT_IN_FLIGHT=0 gives the saga steps the timer policy: a batch starts when full or
// GROUP_COMMIT_WAIT_MS after its first job, however many batches are running (GROUP_COMMIT_HOLD_MS
// plays no part).

const timerPolicy = {
  GROUP_COMMIT_IN_FLIGHT: 0,
  GROUP_COMMIT_MAX: 50,
  GROUP_COMMIT_WAIT_MS: 30,
  // Were the in-flight policy used by mistake, jobs would wait this long behind a running batch.
  GROUP_COMMIT_HOLD_MS: 60_000,
};

describe('the saga steps under GROUP_COMMIT_IN_FLIGHT=0', () => {
  test('the options are the timer policy: the wait is GROUP_COMMIT_WAIT_MS, no in-flight bound', () => {
    expect(groupCommitOptions(timerPolicy)).toEqual({ maxSize: 50, maxWaitMs: 30 });
  });

  test('a lone job waits for company; a batch starts on its timer while another still runs', async () => {
    const batches: string[][] = [];
    const release: (() => void)[] = [];
    const b = new MicroBatcher<string, string>(async (keys): Promise<Map<string, ItemResult<string>>> => {
      batches.push(keys);
      await new Promise<void>((resolve) => release.push(resolve));
      return new Map(keys.map((k) => [k, { ok: true, value: k.toUpperCase() }]));
    }, groupCommitOptions(timerPolicy));
    const a = b.submit('a');
    const b2 = b.submit('b');
    // Not at once (that would be the in-flight policy with nothing running): on the timer, together.
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(batches).toEqual([]);
    await eventually(
      () => batches.length,
      (n) => n === 1,
      5000,
      'the first batch',
    );
    expect(batches).toEqual([['a', 'b']]);
    // The first batch is still running: the next one starts on its own timer, not when that ends.
    const later = ['c', 'd'].map((k) => b.submit(k));
    await eventually(
      () => batches.length,
      (n) => n === 2,
      5000,
      'a second batch while the first runs',
    );
    expect(batches).toEqual([
      ['a', 'b'],
      ['c', 'd'],
    ]);
    for (const r of release) r();
    expect(await Promise.all([a, b2, ...later])).toEqual(['A', 'B', 'C', 'D']);
  });

  describe('workers', () => {
    let h: Harness;
    let w: TestWorkers;
    let gateway: CountingGateway;
    let transports: CountingTransports;

    beforeAll(async () => {
      h = await createHarness({
        GROUP_COMMIT_IN_FLIGHT: '0',
        GROUP_COMMIT_WAIT_MS: '100',
        GROUP_COMMIT_HOLD_MS: '10000',
        EMAIL_RATE_MAX: '1000',
        JOB_BACKOFF_MS: '50',
      });
      gateway = new CountingGateway(createGateway(h.config, h.db));
      transports = new CountingTransports();
      w = await startTestWorkers(h, { gateway, transports, concurrency: 20 });
    }, 30_000);
    afterAll(async () => {
      await w?.stop();
      await h?.cleanup();
    }, 60_000);

    test('orders complete, each charged and emailed once, and the steps commit them in batches', async () => {
      const admin = await h.signUp('admin');
      const user = await h.signUp('user');
      const s = shop(h, admin);
      const p = await s.product(50);
      const answers = await Promise.all(Array.from({ length: 12 }, () => s.place(user.token, p, 1)));
      const ids = await Promise.all(answers.map(async (r) => ((await r.json()) as { id: string }).id));
      await drained(h.deps.queues, async () => (await statuses(h, ids)).every((x) => x === 'completed'));
      expect(ids.map((id) => gateway.chargeCalls(id))).toEqual(ids.map(() => 1));
      expect(ids.map((id) => transports.of(id, 'email').length)).toEqual(ids.map(() => 1));
      // A batch's transitions share one timestamp: the reservations went in fewer transactions than orders.
      const [rows] = await h.pool.query(
        `SELECT COUNT(*) AS n FROM order_events WHERE order_id IN (?) AND to_status = 'reserved' GROUP BY at`,
        [ids],
      );
      const sizes = (rows as { n: number }[]).map((r) => Number(r.n));
      expect(sizes.reduce((x, y) => x + y, 0)).toBe(ids.length);
      expect(Math.max(...sizes)).toBeGreaterThan(1);
      expect(await s.stock(p)).toEqual({ available: 38, reserved: 0 });
    }, 60_000);
  });
});
