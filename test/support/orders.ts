import type { Harness } from './harness';

/** The orders' statuses as the database holds them, in the order of `ids` (`missing` for no row). */
export async function statuses(h: Pick<Harness, 'pool'>, ids: string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const [rows] = await h.pool.query('SELECT id, status FROM orders WHERE id IN (?)', [ids]);
  const byId = new Map((rows as { id: string; status: string }[]).map((r) => [r.id, r.status]));
  return ids.map((id) => byId.get(id) ?? 'missing');
}

/**
 * The processor's own ledger for one order: its succeeded charges and refunds, found through the
 * charge key (or every key the test's gateways saw the order asked under). It shows where the money
 * is; "charged once" is shown by counting gateway calls (CountingGateway), which a unique key cannot hide.
 */
export async function ledger(
  h: Pick<Harness, 'pool'>,
  orderId: string,
  keys: string[] = [`chg_${orderId}`],
): Promise<{ charges: number; refunds: number }> {
  if (keys.length === 0) return { charges: 0, refunds: 0 };
  const [rows] = await h.pool.query(
    `SELECT type FROM gateway_transactions
      WHERE outcome = 'succeeded' AND (idempotency_key IN (?) OR payment_ref IN (?))`,
    [keys, keys],
  );
  const types = (rows as { type: string }[]).map((r) => r.type);
  return {
    charges: types.filter((t) => t === 'charge').length,
    refunds: types.filter((t) => t === 'refund').length,
  };
}
