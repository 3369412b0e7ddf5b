import { afterAll, beforeAll, expect, test } from 'bun:test';
import { pruneDeliveries } from '../domain/webhooks/retention';
import { createHarness, type Harness } from './support/harness';

// The delivery log keeps what the events feed keeps: finished deliveries older than the retention are
// deleted in bounded passes; pending ones are never deleted and do not stop a pass.
let h: Harness;

beforeAll(async () => {
  h = await createHarness();
}, 30_000);
afterAll(async () => {
  await h.close();
});

test('retention deletes finished deliveries past it, in bounded passes, never a pending one', async () => {
  const old = new Date(Date.now() - 40 * 86_400_000);
  const recent = new Date(Date.now() - 86_400_000);
  // Time-ordered ids as the app's are: the oldest first, five of them still pending at the head.
  const rows: [string, string, Date][] = [];
  const status = (i: number) => (i < 5 ? 'pending' : i < 35 ? 'succeeded' : i < 45 ? 'failed' : 'succeeded');
  for (let i = 0; i < 55; i++)
    rows.push([`whd_${i.toString(16).padStart(32, '0')}`, status(i), i < 45 ? old : recent]);
  await h.pool.query(
    'INSERT INTO webhook_deliveries (id, endpoint_id, event_id, event_type, status, attempts, created_at, updated_at) VALUES ?',
    [rows.map(([id, st, at], i) => [id, 'whe_retention', i + 1, 'order.created', st, 1, at, at])],
  );
  const cutoff = new Date(Date.now() - 30 * 86_400_000);
  // One call looks at batches × batchSize rows at most (2 × 10), skipping the 5 pending ones at the
  // head: 40 finished old rows go in three calls, then nothing is left to do.
  const counts: number[] = [];
  for (let i = 0; i < 4; i++) counts.push(await pruneDeliveries(h.db, cutoff, 10, 2));
  expect(counts).toEqual([15, 15, 10, 0]);
  const [left] = await h.pool.query(
    'SELECT status, created_at < ? AS old, COUNT(*) AS n FROM webhook_deliveries GROUP BY status, old ORDER BY status, old',
    [cutoff],
  );
  expect(left as unknown[]).toEqual([
    { status: 'pending', old: 1, n: 5 },
    { status: 'succeeded', old: 0, n: 10 },
  ]);
});
