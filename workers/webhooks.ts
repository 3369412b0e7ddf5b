import { DelayedError, type Job, type Processor } from 'bullmq';
import { renderEvents } from '../domain/orders/event-data';
import { systemResolve } from '../domain/webhooks/addresses';
import { type AttemptSettings, attemptDelivery, loadAttempt } from '../domain/webhooks/attempt';
import { dispatchEvents, staleDeliveries } from '../domain/webhooks/deliveries';
import { queueWebhookAttempts, requeueOverdue, WebhookJobData } from '../queues/webhooks';
import type { WorkerDeps } from './deps';

export function attemptSettings(deps: WorkerDeps): AttemptSettings {
  const c = deps.config;
  return {
    key: c.piiKey,
    guard: { allowPrivate: c.WEBHOOK_ALLOW_PRIVATE, resolve: deps.resolve ?? systemResolve },
    retry: { baseSeconds: c.WEBHOOK_RETRY_BASE_SECONDS, maxAttempts: c.WEBHOOK_MAX_ATTEMPTS },
    timeoutMs: c.WEBHOOK_TIMEOUT_MS,
    render: (rows) => renderEvents(deps.db, rows),
  };
}

/**
 * The `webhooks` queue's processor: one attempt of one delivery. At most WEBHOOK_ENDPOINT_CONCURRENCY
 * sends to one endpoint run at once in this process; a job over the limit is put back a moment
 * later instead of holding a slot, so a slow endpoint takes a few slots, never the whole queue.
 */
export function webhookProcessor(deps: WorkerDeps): Processor {
  const settings = attemptSettings(deps);
  const inFlight = new Map<string, number>();
  return async (job: Job, token?: string) => {
    const data = WebhookJobData.parse(job.data);
    const input = await loadAttempt(deps.db, data.deliveryId);
    if (!input) return { skipped: 'no such delivery' };
    const endpoint = input.endpointId;
    const busy = inFlight.get(endpoint) ?? 0;
    if (busy >= deps.config.WEBHOOK_ENDPOINT_CONCURRENCY) {
      await job.moveToDelayed(Date.now() + 250 + Math.floor(Math.random() * 500), token);
      throw new DelayedError();
    }
    inFlight.set(endpoint, busy + 1);
    try {
      const outcome = await attemptDelivery(deps.db, settings, input, data.made);
      if (outcome.kind === 'failed' && outcome.retryAt) {
        await queueWebhookAttempts(deps.queues.queues.webhooks, [
          { id: data.deliveryId, attempts: data.made + 1, at: outcome.retryAt },
        ]).catch((err: unknown) =>
          // Recorded as due in MySQL: the dispatcher's pass re-adds it once Redis answers.
          deps.logger.warn({ err, deliveryId: data.deliveryId }, 'could not queue a webhook retry'),
        );
      }
      if (outcome.kind === 'failed' && outcome.endpointDisabled)
        deps.logger.warn({ endpointId: endpoint, error: outcome.error }, 'webhook endpoint disabled');
      return outcome;
    } finally {
      const left = (inFlight.get(endpoint) ?? 1) - 1;
      if (left > 0) inFlight.set(endpoint, left);
      else inFlight.delete(endpoint);
    }
  };
}

/**
 * The dispatcher, run by every process that serves `webhooks` (one at a time does the work: the
 * cursor row is locked, the others skip): new events become deliveries and jobs, and pending
 * deliveries whose job is overdue (Redis lost it, or was away when it should have been added) get
 * it again. Driven by a timer, not a queue, so that Redis losing everything loses nothing here.
 */
export function startDispatcher(deps: WorkerDeps): { stop(): Promise<void> } {
  let stopped = false;
  let running: Promise<void> = Promise.resolve();
  const graceMs = Math.max(5000, 4 * deps.config.WEBHOOK_DISPATCH_EVERY_MS);
  const pass = async () => {
    try {
      for (;;) {
        const made = await dispatchEvents(deps.db);
        await queueWebhookAttempts(deps.queues.queues.webhooks, made);
        if (made.length === 0 || stopped) break;
      }
      await requeueOverdue(deps.queues.queues.webhooks, await staleDeliveries(deps.db, graceMs));
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
