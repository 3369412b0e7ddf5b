import type { Job, Processor } from 'bullmq';
import { renderEvents } from '../domain/orders/event-data';
import { systemResolve } from '../domain/webhooks/addresses';
import { type DeliverySettings, deliverEndpoint } from '../domain/webhooks/deliver';
import { dispatchEvents, dueEndpoints } from '../domain/webhooks/deliveries';
import { clearStaleEndpointJobs, queueEndpointJobs, WebhookJobData } from '../queues/webhooks';
import type { WorkerDeps } from './deps';

/** Due deliveries of one endpoint read, rendered and recorded together. */
export const WEBHOOK_BATCH_SIZE = 100;
/** An endpoint's job stops taking batches after this long, so endpoints take turns at the slots. */
export const WEBHOOK_JOB_BUDGET_MS = 10_000;

export function deliverySettings(deps: WorkerDeps, stopping?: () => boolean): DeliverySettings {
  const c = deps.config;
  return {
    stopping,
    key: c.piiKey,
    guard: { allowPrivate: c.WEBHOOK_ALLOW_PRIVATE, resolve: deps.resolve ?? systemResolve },
    retry: { baseSeconds: c.WEBHOOK_RETRY_BASE_SECONDS, maxAttempts: c.WEBHOOK_MAX_ATTEMPTS },
    timeoutMs: c.WEBHOOK_TIMEOUT_MS,
    render: (rows) => renderEvents(deps.db, rows),
    concurrency: c.WEBHOOK_ENDPOINT_CONCURRENCY,
    batchSize: WEBHOOK_BATCH_SIZE,
    budgetMs: WEBHOOK_JOB_BUDGET_MS,
  };
}

/**
 * The `webhooks` queue's processor: everything due for one endpoint, in batches, with at most
 * WEBHOOK_ENDPOINT_CONCURRENCY sends in flight (one job per endpoint exists in the cluster, so the
 * limit is cluster-wide). A slow endpoint holds one slot; a dead one gives it back after one round.
 */
export function webhookProcessor(deps: WorkerDeps, stopping?: () => boolean): Processor {
  const settings = deliverySettings(deps, stopping);
  return async (job: Job) => {
    const { endpointId } = WebhookJobData.parse(job.data);
    const report = await deliverEndpoint(deps.db, settings, endpointId);
    if (report.disabled)
      deps.logger.warn({ endpointId, reason: report.disabled }, 'webhook endpoint disabled');
    return report;
  };
}

/**
 * The dispatcher, run by every process that serves `webhooks`. Each pass: new events are numbered in
 * commit order (one numberer at a time, the others skip), then one query finds the endpoints with
 * something to send (events past their place, or deliveries due) and their jobs are added (a no-op
 * for a job that exists). Endpoints overdue past the grace period whose job is not going to run
 * (Redis lost part of it) have it cleared first. Driven by a timer, not a queue, so that Redis losing
 * everything loses nothing here.
 */
export function startDispatcher(deps: WorkerDeps): { stop(): Promise<void> } {
  let stopped = false;
  let running: Promise<void> = Promise.resolve();
  const graceMs = Math.max(5000, 4 * deps.config.WEBHOOK_DISPATCH_EVERY_MS);
  const queue = deps.queues.queues.webhooks;
  const pass = async () => {
    try {
      await dispatchEvents(deps.db);
      const due = await dueEndpoints(deps.db, graceMs);
      await clearStaleEndpointJobs(
        queue,
        due.filter((d) => d.overdue).map((d) => d.endpointId),
      );
      await queueEndpointJobs(
        queue,
        due.map((d) => d.endpointId),
      );
    } catch (err) {
      deps.logger.warn({ err }, 'webhook dispatch pass failed; the next one picks up');
    }
  };
  const tick = () => {
    if (stopped) return;
    running = pass().finally(() => {
      if (!stopped) timer = setTimeout(tick, deps.config.WEBHOOK_DISPATCH_EVERY_MS);
    });
  };
  let timer = setTimeout(tick, 0);
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
