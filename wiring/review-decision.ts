import type { Actor } from '../domain/actor';
import type { OrderContext } from '../domain/orders/context';
import { decideReview, type ReviewDecision } from '../domain/orders/review';
import type { Logger } from '../lib/logger';
import type { PartitionedQueues } from '../queues/partitioned';
import type { Metrics } from './metrics';

export interface ReviewDeps {
  orders: OrderContext;
  queues: PartitionedQueues;
  logger: Logger;
  metrics?: Metrics;
}

/**
 * An admin's decision on an order in review and what follows it, the one path for every edge (the
 * API's `POST /orders/{id}/review`, the console's buttons): the domain's compare-and-set (a 409
 * `conflict` when the order is no longer in review), then an approved order's charge → notify tail
 * is queued and a rejection's notice sent. `actor` (who decided) is recorded on the timeline.
 */
export async function decideAndQueue(
  deps: ReviewDeps,
  orderId: string,
  decision: ReviewDecision,
  actor: Actor,
  requestId?: string,
): Promise<void> {
  const decided = await decideReview(deps.orders, orderId, decision, actor);
  deps.logger.info({ orderId, decision, actor }, 'review decided');
  deps.metrics?.reviewEnded(decision);
  try {
    if (decision === 'approve') await deps.queues.resumeAfterReview(orderId, requestId);
    // A rejection wrote its notice with the transition (the outbox); the queue only delivers it.
    for (const message of decided.messages) await deps.queues.send(message, orderId);
  } catch (err) {
    // The decision is committed; the reconciler re-adds the charge of an approved order it finds idle
    // and re-sends a notice that was never queued.
    deps.logger.error({ err, orderId }, 'could not queue what follows the review; left to the reconciler');
  }
}
