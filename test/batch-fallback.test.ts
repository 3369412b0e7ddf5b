import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { reserveOrders } from '../domain/orders/reserve-batch';
import { reserveOrder } from '../domain/orders/reserve-one';
import { type ItemResult, withFallback } from '../lib/batcher';
import { createLogger } from '../lib/logger';
import type { WorkerDeps } from '../workers/deps';
import { stepBatcher } from '../workers/group-commit';
import { killingTransactions } from './support/faults';
import type { Harness } from './support/harness';
import { statuses } from './support/orders';
import { startWorkerHarness, type WorkerHarness } from './support/worker-harness';

describe('withFallback', () => {
  const answer = (keys: string[]) =>
    new Map(keys.map((k) => [k, { ok: true, value: `batch:${k}` } as const]));

  test('a batch that succeeds answers for itself: the one-by-one path is never taken', async () => {
    const singles: string[] = [];
    const run = withFallback(
      async (keys: string[]) => answer(keys),
      async (k) => {
        singles.push(k);
        return `single:${k}`;
      },
    );
    expect(await run(['a', 'b'])).toEqual(answer(['a', 'b']));
    expect(singles).toEqual([]);
  });

  test('a batch that fails as a whole is decided one by one: only the item that fails alone gets an error', async () => {
    const reported: { err: unknown; size: number }[] = [];
    const singles: string[] = [];
    const run = withFallback(
      async (_keys: string[]): Promise<Map<string, ItemResult<string>>> => {
        throw new Error('deadlock');
      },
      async (k) => {
        singles.push(k);
        if (k === 'bad') throw new Error(`no ${k}`);
        return `single:${k}`;
      },
      (err, size) => reported.push({ err, size }),
    );
    const out = await run(['a', 'bad', 'c']);
    expect(out.get('a')).toEqual({ ok: true, value: 'single:a' });
    expect(out.get('c')).toEqual({ ok: true, value: 'single:c' });
    const bad = out.get('bad');
    expect(bad?.ok).toBe(false);
    expect(bad?.ok === false && (bad.error as Error).message).toBe('no bad');
    expect(singles.sort()).toEqual(['a', 'bad', 'c']);
    expect(reported.map((r) => [(r.err as Error).message, r.size])).toEqual([['deadlock', 3]]);
  });
});

describe('the reserve step when its batch transaction fails as a whole', () => {
  let w: WorkerHarness;
  let h: Harness;
  let deps: WorkerDeps;

  beforeAll(async () => {
    w = await startWorkerHarness('batch-fallback');
    ({ h, deps } = w);
  }, 60_000);
  afterAll(() => w?.close(), 60_000);

  /**
   * Three orders whose outcomes do not depend on the order they are decided in (each on its own
   * product): one fits, one lacks stock, one fits.
   */
  async function scene() {
    const [plenty, scarce, other] = [await w.s.product(5), await w.s.product(1), await w.s.product(3)];
    const place = async (productId: string, quantity: number) => {
      const res = await w.s.place(w.user.token, productId, quantity);
      expect(res.status).toBe(202);
      return ((await res.json()) as { id: string }).id;
    };
    const ids = [await place(plenty, 1), await place(scarce, 2), await place(other, 3)];
    return { ids, products: [plenty, scarce, other] };
  }

  /** What the reserve worker's batcher (the production composition) decides for `ids` through `ctx`. */
  async function reserveThrough(ctxDeps: WorkerDeps, ids: string[]) {
    const batcher = stepBatcher(
      ctxDeps,
      'reserve',
      (batch) => reserveOrders(ctxDeps.orders, batch),
      (id) => reserveOrder(ctxDeps.orders, id),
    );
    const answers = await Promise.all(ids.map((id) => batcher.submit(id)));
    return answers.map((a) => ({ status: a.status, changed: a.changed, messages: a.messages.length }));
  }

  /** Everything an outcome consists of in the database: status, reason, timeline, messages, stock. */
  async function outcome(ids: string[], products: string[]) {
    const [rows] = await h.pool.query(
      'SELECT id, failure_reason AS reason FROM orders WHERE id IN (?) ORDER BY FIELD(id, ?)',
      [ids, ids],
    );
    const reasons = (rows as { reason: string | null }[]).map((r) =>
      r.reason?.replace(/prd_[\w-]+/, '<product>'),
    );
    const timelines = await Promise.all(
      ids.map(async (id) => {
        const [ev] = await h.pool.query(
          'SELECT to_status AS `to` FROM order_events WHERE order_id = ? ORDER BY id',
          [id],
        );
        return (ev as { to: string }[]).map((e) => e.to);
      }),
    );
    const messages = await Promise.all(
      ids.map(async (id) => {
        const [n] = await h.pool.query('SELECT COUNT(*) AS n FROM notifications WHERE order_id = ?', [id]);
        return Number((n as { n: number }[])[0]?.n);
      }),
    );
    return {
      statuses: await statuses(h, ids),
      reasons,
      timelines,
      messages,
      stock: await Promise.all(products.map((p) => w.s.stock(p))),
    };
  }

  test('a killed connection fails the batch; its orders are decided one by one with the outcomes the batch gives', async () => {
    // The reference: the same scene through a batch that commits.
    const plain = await scene();
    const batchAnswers = await reserveThrough(deps, plain.ids);
    const expected = await outcome(plain.ids, plain.products);
    expect(expected.statuses).toEqual(['reserved', 'rejected', 'reserved']);

    // Now the batch's transaction loses its connection (killed by the server) after it began.
    const faulty = await scene();
    const killing = killingTransactions(deps.orders.db, h.pool, (n) => n === 1);
    const warned: { step?: string; size?: number }[] = [];
    const logger = createLogger('silent');
    logger.warn = ((obj: { step?: string; size?: number }) => {
      warned.push(obj);
    }) as typeof logger.warn;
    const faultyDeps: WorkerDeps = { ...deps, logger, orders: { ...deps.orders, db: killing.db } };
    const fallbackAnswers = await reserveThrough(faultyDeps, faulty.ids);

    // The batch did fail as a whole, once, and was reported; each order then ran in its own transaction.
    expect(killing.record.killed).toEqual([1]);
    expect(killing.record.started).toBe(1 + faulty.ids.length);
    expect(warned.map((x) => [x.step, x.size])).toEqual([['reserve', 3]]);
    // Same answers to the jobs, same rows: nothing of the failed batch stayed, nothing was done twice.
    expect(fallbackAnswers).toEqual(batchAnswers);
    expect(await outcome(faulty.ids, faulty.products)).toEqual(expected);
  });
});
