import { afterAll, beforeAll, expect, test } from 'bun:test';
import { createHarness, type Harness } from './support/harness';
import { shop } from './support/shop';
import { eventually, finalStatuses, startTestWorkers, type TestWorkers } from './support/workers';

let h: Harness;
let w: TestWorkers;

beforeAll(async () => {
  // A slow gateway widens the window in which a cancel can land while a charge is in flight.
  h = await createHarness({ GATEWAY_LATENCY_MS: '40', JOB_BACKOFF_MS: '50', EMAIL_RATE_MAX: '1000' });
  w = await startTestWorkers(h, { concurrency: 10 });
});
afterAll(async () => {
  await w.stop();
  await h.cleanup();
});

test('cancels racing the saga: every order ends once, and stock and money add up', async () => {
  const admin = await h.signUp('admin');
  const buyer = await h.signUp('user');
  const s = shop(h, admin);
  const p = await s.product(40, 250);
  // Each order is cancelled at a different moment of its life: before, during and after its steps.
  const placed = await Promise.all(
    Array.from({ length: 50 }, async (_, i) => {
      const { id } = (await (await s.place(buyer.token, p, 1)).json()) as { id: string };
      await Bun.sleep((i % 10) * 50);
      return { id, cancel: (await h.json('PUT', `/orders/${id}/cancel`, undefined, buyer.token)).status };
    }),
  );
  const ids = placed.map((o) => o.id);
  const answers = placed.map((o) => o.cancel);
  expect(answers.every((status) => status === 200 || status === 409)).toBe(true);

  const rows = await eventually(
    async () => {
      const [r] = await h.pool.query('SELECT id, status FROM orders WHERE id IN (?)', [ids]);
      return r as { id: string; status: string }[];
    },
    (r) => r.every((o) => finalStatuses.has(o.status)),
    30_000,
  );
  const status = new Map(rows.map((r) => [r.id, r.status]));
  // A 200 means this cancel ended the order; a 409 means the order was already final.
  ids.forEach((id, i) => {
    if (answers[i] === 200) expect(status.get(id)).toBe('cancelled');
    else expect(status.get(id)).not.toBe('cancelled');
  });

  // Money: the gateway kept exactly one charge for each completed order and nothing for the others.
  const [ledger] = await h.pool.query(
    `SELECT payment_ref AS ref,
            SUM(CASE WHEN type = 'charge' THEN 1 ELSE 0 END) AS charges,
            SUM(CASE WHEN type = 'refund' THEN 1 ELSE 0 END) AS refunds
       FROM gateway_transactions WHERE outcome = 'succeeded' AND payment_ref IN (?) GROUP BY payment_ref`,
    [ids.map((id) => `chg_${id}`)],
  );
  const kept = new Map(
    (ledger as { ref: string; charges: number; refunds: number }[]).map((l) => [
      l.ref,
      Number(l.charges) - Number(l.refunds),
    ]),
  );
  for (const id of ids) {
    if ((kept.get(`chg_${id}`) ?? 0) !== (status.get(id) === 'completed' ? 1 : 0)) {
      const [ev] = await h.pool.query('SELECT from_status, to_status, reason, at FROM order_events WHERE order_id = ? ORDER BY id', [id]);
      const [pay] = await h.pool.query('SELECT * FROM payments WHERE order_id = ?', [id]);
      const [gw] = await h.pool.query('SELECT * FROM gateway_transactions WHERE payment_ref = ? OR idempotency_key = ?', [`chg_${id}`, `rfd_${id}`]);
      console.log('LEAK', id, JSON.stringify({ ev, pay, gw }, null, 1));
    }
    expect({ id, kept: kept.get(`chg_${id}`) ?? 0 }).toEqual({
      id,
      kept: status.get(id) === 'completed' ? 1 : 0,
    });
  }

  // Stock: nothing left held, and what is gone is exactly what completed orders took.
  const completed = rows.filter((r) => r.status === 'completed').length;
  console.log(
    'DIST',
    JSON.stringify(
      [...status.values()].reduce((a: Record<string, number>, v) => {
        a[v] = (a[v] ?? 0) + 1;
        return a;
      }, {}),
    ),
    JSON.stringify((ledger as { refunds: number }[]).filter((l) => Number(l.refunds) > 0).length),
  );
  expect(await s.stock(p)).toEqual({ available: 40 - completed, reserved: 0 });
}, 60_000);
