/**
 * What screening knows about an order when it decides: counters from Redis (per user, over the last
 * minutes and hours) and a few facts from MySQL. The synthetic training data is drawn in these same
 * terms, so the model and the live scorer share one feature function.
 */
export interface RiskSignals {
  /** Orders of this user screened in the last 10 minutes, this one included. */
  ordersLast10m: number;
  /** Orders of this user screened in the last 24 hours, this one included. */
  ordersLast24h: number;
  /** Distinct payment tokens this user paid with in the last 24 hours, this one included. */
  tokensLast24h: number;
  /** Declined payments of this user in the last 24 hours. */
  failedPaymentsLast24h: number;
  amountCents: number;
  /** The user's earlier screened orders: how many, and their average amount and units. */
  priorOrders: number;
  priorAvgAmountCents: number;
  priorAvgUnits: number;
  accountAgeHours: number;
  units: number;
}

/** Each feature with the reason it gives when it pushes the score up. Order = the weights' order. */
export const featureNames = [
  'velocity_10m',
  'velocity_24h',
  'many_payment_tokens',
  'failed_payments',
  'large_amount',
  'amount_spike',
  'first_order',
  'new_account',
  'quantity_spike',
  'many_units',
] as const;
export type FeatureName = (typeof featureNames)[number];

const clamp = (x: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, x));

/** Log-scaled and clamped, so one absurd value cannot dominate the sum. */
export function features(s: RiskSignals): number[] {
  const hasHistory = s.priorOrders > 0 && s.priorAvgAmountCents > 0;
  return [
    Math.log1p(Math.max(0, s.ordersLast10m - 1)),
    Math.log1p(Math.max(0, s.ordersLast24h - 1)),
    Math.log1p(Math.max(0, s.tokensLast24h - 1)),
    Math.log1p(Math.max(0, s.failedPaymentsLast24h)),
    Math.log10(1 + Math.max(0, s.amountCents) / 100),
    hasHistory ? clamp(Math.log(Math.max(1, s.amountCents) / s.priorAvgAmountCents), -3, 5) : 0,
    s.priorOrders > 0 ? 0 : 1,
    // 1 for an account made a moment ago, 0.5 after a day, towards 0 for old ones.
    1 / (1 + Math.max(0, s.accountAgeHours) / 24),
    hasHistory && s.priorAvgUnits > 0 ? clamp(Math.log(Math.max(1, s.units) / s.priorAvgUnits), -3, 5) : 0,
    Math.log1p(Math.max(0, s.units - 1)),
  ];
}
