import { itemSpan, SpanKind, tracingOn } from '../../lib/tracing';
import type { ChargeRequest, ChargeResult, PaymentGateway } from '../payments/gateway';

/**
 * One order's gateway call as a span of that order's trace (inside a charge batch too: lib/tracing.ts
 * finds the order's own context), with the outcome and a decline's code; never the token.
 */
export function chargeTraced(
  gateway: PaymentGateway,
  order: { id: string; userId: string },
  request: ChargeRequest,
): Promise<ChargeResult> {
  if (!tracingOn()) return gateway.charge(request);
  return itemSpan(
    order.id,
    'gateway charge',
    { 'order.id': order.id, 'user.id': order.userId },
    async (span) => {
      const result = await gateway.charge(request);
      span?.setAttribute('gateway.outcome', result.outcome);
      if (result.outcome !== 'succeeded') span?.setAttribute('gateway.code', result.code);
      return result;
    },
    SpanKind.CLIENT,
  );
}

/**
 * Any other operation on an order's payment (an authorization, a capture) as a span of the order's
 * trace, with what the processor answered (`accepted` or `refused`, or a decline's outcome and code).
 */
export function gatewayTraced<T extends ChargeResult | { ref: string } | null>(
  operation: 'authorize' | 'capture',
  order: { id: string; userId: string },
  call: () => Promise<T>,
): Promise<T> {
  if (!tracingOn()) return call();
  return itemSpan(
    order.id,
    `gateway ${operation}`,
    { 'order.id': order.id, 'user.id': order.userId },
    async (span) => {
      const result = await call();
      if (result !== null && 'outcome' in result) {
        span?.setAttribute('gateway.outcome', result.outcome);
        if (result.outcome !== 'succeeded') span?.setAttribute('gateway.code', result.code);
      } else span?.setAttribute('gateway.outcome', result === null ? 'refused' : 'accepted');
      return result;
    },
    SpanKind.CLIENT,
  );
}
