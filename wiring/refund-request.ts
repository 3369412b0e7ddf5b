import type { OrderContext } from '../domain/orders/context';
import { type RefundInput, type RequestedRefund, requestRefund } from '../domain/orders/refunds/create';
import { settleRefund } from '../domain/orders/refunds/settle';
import { invalidate } from '../lib/cache';
import type { Config } from '../lib/config';
import type { Logger } from '../lib/logger';
import type { RedisClient } from '../lib/redis';
import type { PartitionedQueues } from '../queues/partitioned';

export interface RefundDeps {
  orders: OrderContext;
  queues: PartitionedQueues;
  logger: Logger;
  redis: RedisClient;
  config: Pick<Config, 'QUEUE_PREFIX'>;
}

/**
 * A refund after the sale, the one path for every edge (`POST /orders/{id}/refunds`, the console's
 * forms): the intent is committed (checked against what was captured), then the gateway is asked
 * outside any transaction and its answer recorded; the customer's message is queued. When the
 * gateway or Redis is away the refund stays owed as recorded and the reconciler finishes it.
 */
export async function requestAndSettleRefund(deps: RefundDeps, input: RefundInput): Promise<RequestedRefund> {
  const requested = await requestRefund(deps.orders, input);
  let refund = requested.refund;
  if (refund.status === 'pending') {
    try {
      const settled = await settleRefund(deps.orders, refund.id);
      refund = settled.refund;
      for (const message of settled.messages) await deps.queues.send(message, input.orderId);
    } catch (err) {
      deps.logger.warn({ err, orderId: input.orderId, refundId: refund.id }, 'refund left to the reconciler');
    }
  }
  // The order's refundedCents changed, and a completed order is cached.
  await invalidate(deps.redis, deps.config.QUEUE_PREFIX, 'order', [input.orderId]).catch(() => {});
  return { ...requested, refund };
}
