import type { RefundView } from './view';

/** What is still refundable on an order: money, and units per product (refunds not failed count). */
export interface LeftToRefund {
  cents: number;
  units: Map<string, number>;
}

/**
 * What is left to refund, as an operator is shown it before asking (the binding check is
 * recordRefundIntent's, under the order's lock): the captured amount less what refunds not failed
 * took, and each line's quantity less the units they took back.
 */
export function leftToRefund(
  captured: number,
  items: { productId: string; quantity: number }[],
  refunds: RefundView[],
): LeftToRefund {
  const live = refunds.filter((r) => r.status !== 'failed');
  const cents = Math.max(0, captured - live.reduce((sum, r) => sum + r.amountCents, 0));
  const units = new Map(items.map((i) => [i.productId, i.quantity]));
  for (const r of live) {
    for (const line of r.items ?? []) {
      units.set(line.productId, Math.max(0, (units.get(line.productId) ?? 0) - line.quantity));
    }
  }
  return { cents, units };
}
