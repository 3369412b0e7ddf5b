import { purgeDeadTokens } from '../domain/auth/tokens';
import { authorizeHeld } from '../domain/orders/authorize';
import { expireHolds } from '../domain/orders/compensate';
import {
  findStaleNotifications,
  findStuckOrders,
  findUnauthorizedReviews,
  findUnsettledPayments,
} from '../domain/orders/reconcile';
import { refundIfCharged } from '../domain/orders/refund';
import { findStaleRefunds, settleRefund } from '../domain/orders/refunds/settle';
import { expireReviews } from '../domain/orders/review';
import { pruneEvents } from '../domain/outbox/retention';
import { pruneDeliveries } from '../domain/webhooks/retention';
import { invalidate } from '../lib/cache';
import type { WorkerDeps } from './deps';

export interface ReconcileReport {
  expired: number;
  readded: number;
  resent: number;
  settled: number;
  /** Refresh tokens deleted (expired or revoked long enough ago to matter no more). */
  purgedTokens: number;
  /** Events deleted for being older than EVENT_RETENTION_DAYS (a bounded number per pass). */
  prunedEvents: number;
  /** Finished webhook deliveries deleted for being older than EVENT_RETENTION_DAYS (bounded too). */
  prunedDeliveries: number;
  /** Orders this pass could not handle (logged, counted in reconcile_failures_total); retried next pass. */
  failed: number;
}

/** What the reconciler was doing for an order when it failed (the metric's `task` label). */
export type ReconcileTask = 'expire_hold' | 'expire_review' | 'readd' | 'settle';

/**
 * MySQL is the truth, Redis can be rebuilt: expire unpaid holds and unanswered reviews, re-add the
 * flow of every order that is stuck without live jobs (Redis was down when it was stored, or lost its data), and re-send
 * messages that were recorded but never went out, and settle payments of orders that ended without
 * their refund going through (or were told "not charged" while a late charge could still land).
 */
export async function reconcile(deps: WorkerDeps): Promise<ReconcileReport> {
  const report: ReconcileReport = {
    expired: 0,
    readded: 0,
    resent: 0,
    settled: 0,
    purgedTokens: 0,
    prunedEvents: 0,
    prunedDeliveries: 0,
    failed: 0,
  };
  // One order that cannot be handled (its contact no longer decrypts, a guard throws) is logged and
  // counted, and the pass goes on with the others: a single bad row must not stop every settlement.
  const failed = (task: ReconcileTask, orderId: string, err: unknown) => {
    report.failed++;
    deps.metrics?.reconcileFailed(task);
    deps.logger.error({ err, orderId, task }, `reconciler could not ${task.replace('_', ' ')} an order`);
  };
  // Each expiry wrote its message in its own transaction (the outbox): here it is only handed to the
  // queue. Should that fail (Redis away), the row is still there and a later pass re-sends it (below).
  const holds = await expireHolds(deps.orders);
  for (const f of holds.failed) failed('expire_hold', f.orderId, f.error);
  for (const { orderId, messages } of holds.expired) {
    report.expired++;
    for (const id of messages) await deps.queues.send(id, orderId);
  }
  // Orders nobody reviewed in time (REVIEW_TTL_SECONDS) are cancelled, their stock released.
  const reviews = await expireReviews(deps.orders, deps.config.REVIEW_TTL_SECONDS);
  for (const f of reviews.failed) failed('expire_review', f.orderId, f.error);
  for (const { orderId, messages } of reviews.expired) {
    report.expired++;
    deps.metrics?.reviewEnded('expired');
    for (const id of messages) await deps.queues.send(id, orderId);
  }
  const olderThan = new Date(Date.now() - deps.config.RECONCILE_AFTER_SECONDS * 1000);
  for (const order of await findStuckOrders(deps.db, olderThan)) {
    try {
      if (await deps.queues.hasLiveJobs(order.id)) continue;
      await deps.queues.clearFinishedJobs(order.id);
      if (order.status === 'pending') await deps.queues.startOrder(order.id, order.paymentToken !== null);
      else await deps.queues.resumeFrom(order.id, order.status === 'reserved' ? 'charge' : 'notify');
    } catch (err) {
      failed('readd', order.id, err);
      continue;
    }
    deps.logger.warn(
      { orderId: order.id, status: order.status },
      'reconciler re-added the flow of a stuck order',
    );
    report.readded++;
  }
  for (const { orderId } of await findUnauthorizedReviews(deps.db, olderThan)) {
    try {
      const { messages } = await authorizeHeld(deps.orders, orderId);
      for (const id of messages) await deps.queues.send(id, orderId);
      report.settled++;
    } catch (err) {
      deps.logger.warn({ err, orderId }, 'could not authorize an order held in review');
    }
  }
  const lateChargeSince = new Date(Date.now() - deps.config.LATE_CHARGE_WINDOW_SECONDS * 1000);
  for (const { orderId } of await findUnsettledPayments(deps.db, olderThan, lateChargeSince)) {
    try {
      const answer = await refundIfCharged(deps.orders, orderId);
      if (answer === 'refunded' || answer === 'voided') {
        deps.logger.warn({ orderId, answer }, 'reconciler gave back the money of an ended order');
        report.settled++;
      }
    } catch (err) {
      // The gateway is down or its circuit open: this payment waits for the next pass, the others go on.
      failed('settle', orderId, err);
    }
  }
  // Refunds after the sale left pending (the gateway was away, the process died after the intent): the
  // gateway is asked again with the refund's own key, so it moves the money once, and the answer is
  // recorded once (only a pending refund takes one).
  for (const { id, orderId } of await findStaleRefunds(deps.db, olderThan)) {
    try {
      const { refund, messages } = await settleRefund(deps.orders, id);
      for (const message of messages) await deps.queues.send(message, orderId);
      await invalidate(deps.redis, deps.config.QUEUE_PREFIX, 'order', [orderId]).catch(() => {});
      deps.logger.warn({ orderId, refundId: id, status: refund.status }, 'reconciler settled a refund');
      report.settled++;
    } catch (err) {
      deps.logger.warn({ err, orderId, refundId: id }, 'could not settle a pending refund');
    }
  }
  // A message recorded by a notify batch is only ever sent by its batch's job: that job is re-added
  // (unless it is still going to run, e.g. waiting in a backlog), never a second job of the message's
  // own, which could send it at the same time. One re-add per batch covers all its queued messages.
  const batches = new Set<string>();
  for (const n of await findStaleNotifications(deps.db, olderThan)) {
    if (n.orderId && (await deps.queues.hasLiveJobs(n.orderId))) continue;
    if (n.sendJob) {
      if (!batches.has(n.sendJob)) await deps.queues.resendBatch(n.sendJob);
      batches.add(n.sendJob);
    } else {
      await deps.queues.resend(n.id, n.orderId ?? undefined);
    }
    report.resent++;
  }
  report.purgedTokens = await purgeDeadTokens(deps.db, {
    accessTtlSeconds: deps.config.ACCESS_TOKEN_TTL_SECONDS,
  });
  const retained = new Date(Date.now() - deps.config.EVENT_RETENTION_DAYS * 86_400_000);
  report.prunedEvents = await pruneEvents(deps.db, retained);
  report.prunedDeliveries = await pruneDeliveries(deps.db, retained);
  return report;
}
