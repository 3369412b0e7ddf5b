import type { RiskDecision } from '../../db/schema';
import type { CounterSignals, RiskCounters } from './counters';
import type { RiskModel } from './model';

export interface RiskAssessment {
  /** 0–1, the model's probability that the order is fraudulent. */
  score: number;
  decision: RiskDecision;
  reasons: string[];
  /** Which weights scored it (`version@hash`). */
  model: string;
}

/** What screening is built from; `wiring/adapters.ts` makes it from the configuration. */
export interface Screening {
  counters: RiskCounters;
  model: RiskModel;
  /** Scores at or above these review or reject the order (RISK_REVIEW_AT, RISK_REJECT_AT). */
  reviewAt: number;
  rejectAt: number;
  /** False (FRAUD_SCREENING=off, the operator's kill switch): every order is charged unscreened. */
  enabled?: boolean;
  /**
   * MAX_UNPAID_ORDERS: orders in `review` count with unpaid `reserved` ones; an order that would pass
   * it on entering review is rejected (`too_many_holds`) before anything is authorized.
   */
  maxHolds: number;
  /** Told of every decision that took effect (metrics). */
  observe?: (a: RiskAssessment) => void;
}

/**
 * Stripe-style test tokens that force a decision whatever the score (they charge like tok_visa); only
 * with a gateway in test mode: with real money they are ordinary tokens, and a customer cannot steer
 * screening with them.
 */
export const forcedDecisions: Readonly<Record<string, { decision: RiskDecision; reason: string }>> = {
  tok_riskLevelElevated: { decision: 'review', reason: 'test_token_elevated' },
  tok_riskLevelHighest: { decision: 'reject', reason: 'test_token_highest' },
};

export interface ScreenableOrder {
  id: string;
  userId: string;
  totalCents: number;
  paymentToken: string | null;
}

/** What screening reads from SQL about an order: its units and its account's creation time. */
export interface OrderFacts {
  units: number;
  accountCreated: Date | null;
}

/** The facts as a query returns them (a SUM as a string, a DATETIME as a Date or a string). */
export function orderFacts(
  units: string | number | null | undefined,
  created: string | Date | null | undefined,
) {
  return { units: Number(units ?? 0), accountCreated: created ? new Date(created) : null };
}

export const observed = (order: ScreenableOrder, f: OrderFacts, at: number) => ({
  userId: order.userId,
  orderId: order.id,
  token: order.paymentToken ?? '',
  amountCents: order.totalCents,
  units: f.units,
  at,
});

/** The model's verdict on an order from its facts and its user's counters (pure, microseconds). */
export function assess(
  s: Screening,
  order: ScreenableOrder,
  f: OrderFacts,
  counters: CounterSignals,
  now: number,
  testMode: boolean,
): RiskAssessment {
  const token = order.paymentToken ?? '';
  const { score, reasons } = s.model.score({
    ...counters,
    amountCents: order.totalCents,
    priorAvgAmountCents: counters.priorOrders ? counters.priorCents / counters.priorOrders : 0,
    priorAvgUnits: counters.priorOrders ? counters.priorUnits / counters.priorOrders : 0,
    accountAgeHours: f.accountCreated ? Math.max(0, now - f.accountCreated.getTime()) / 3_600_000 : 0,
    units: f.units,
  });
  const forced = testMode ? forcedDecisions[token] : undefined;
  const decision: RiskDecision =
    forced?.decision ?? (score >= s.rejectAt ? 'reject' : score >= s.reviewAt ? 'review' : 'approve');
  return {
    score: Math.round(score * 10_000) / 10_000,
    decision,
    reasons: forced ? [forced.reason, ...reasons] : reasons,
    model: s.model.id,
  };
}

/** The risk columns of an order, as stored. */
export function riskColumns(a: RiskAssessment) {
  return {
    riskScore: a.score,
    riskDecision: a.decision,
    riskReasons: a.reasons.join(',').slice(0, 255) || null,
    riskModel: a.model,
  };
}
