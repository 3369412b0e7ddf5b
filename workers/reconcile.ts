import { purgeDeadTokens } from '../domain/auth/tokens';
import { refundIfCharged } from '../domain/orders/charge';
import { expireHolds } from '../domain/orders/compensate';
import { findStaleNotifications, findStuckOrders, findUnsettledPayments } from '../domain/orders/reconcile';
import type { WorkerDeps } from './deps';

export interface ReconcileReport {
  expired: number;
  readded: number;
  resent: number;
  settled: number;
  /** Refresh tokens deleted (expired or revoked long enough ago to matter no more). */
  purgedTokens: number;
}

/**
 * MySQL is the truth, Redis can be rebuilt: expire unpaid holds, re-add the flow of every order that
 * is stuck without live jobs (Redis was down when it was stored, or lost its data), and re-send
 * messages that were recorded but never went out, and settle payments of orders that ended without
 * their refund going through.
 */
export async function reconcile(deps: WorkerDeps): Promise<ReconcileReport> {
  const report: ReconcileReport = { expired: 0, readded: 0, resent: 0, settled: 0, purgedTokens: 0 };
  for (const orderId of await expireHolds(deps.orders)) {
    await deps.queues.notifyOutcome(orderId, 'cancelled');
    report.expired++;
  }
  const olderThan = new Date(Date.now() - deps.config.RECONCILE_AFTER_SECONDS * 1000);
  for (const order of await findStuckOrders(deps.db, olderThan)) {
    if (await deps.queues.hasLiveJobs(order.id)) continue;
    await deps.queues.clearFinishedJobs(order.id);
    if (order.status === 'pending') await deps.queues.startOrder(order.id, order.paymentToken !== null);
    else await deps.queues.resumeFrom(order.id, order.status === 'reserved' ? 'charge' : 'notify');
    deps.logger.warn(
      { orderId: order.id, status: order.status },
      'reconciler re-added the flow of a stuck order',
    );
    report.readded++;
  }
  for (const { orderId } of await findUnsettledPayments(deps.db, olderThan)) {
    await refundIfCharged(deps.orders, orderId);
    report.settled++;
  }
  for (const n of await findStaleNotifications(deps.db, olderThan)) {
    if (n.orderId && (await deps.queues.hasLiveJobs(n.orderId))) continue;
    await deps.queues.resend(n.id, n.orderId ?? undefined);
    report.resent++;
  }
  report.purgedTokens = await purgeDeadTokens(deps.db, {
    accessTtlSeconds: deps.config.ACCESS_TOKEN_TTL_SECONDS,
  });
  return report;
}
