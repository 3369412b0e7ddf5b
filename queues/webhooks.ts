import type { Queue } from 'bullmq';
import { z } from 'zod';

/** A webhook delivery job: one attempt at one (endpoint, event) delivery; ids only. */
export const WebhookJobData = z.strictObject({
  deliveryId: z.string().min(1).max(64),
  /** Attempts made before this one: the attempt records itself only if the row still says so. */
  made: z.number().int().min(0),
});
export type WebhookJobData = z.infer<typeof WebhookJobData>;

export const WEBHOOK_JOB = 'webhook';

/**
 * One job id per attempt: adding the same attempt again (the dispatcher after a crash, the
 * reconciler after Redis lost it) is a no-op while its job exists; a manual retry has its own.
 */
export const webhookJobId = (deliveryId: string, made: number, manual = false) =>
  `${deliveryId}-${made}${manual ? '-retry' : ''}`;

/**
 * Retries between attempts are the delivery's own (its row's `next_attempt_at`, a delayed job), not
 * BullMQ's: a job is retried by BullMQ only for a technical failure of the processor (MySQL away).
 * Finished jobs are removed at once (MySQL keeps the log), so the same id can be added again.
 */
const options = {
  attempts: 5,
  backoff: { type: 'exponential', delay: 1000 },
  removeOnComplete: true,
  removeOnFail: true,
};

export async function queueWebhookAttempts(
  queue: Queue,
  list: readonly { id: string; attempts: number; at: Date; manual?: boolean }[],
): Promise<void> {
  if (list.length === 0) return;
  const now = Date.now();
  await queue.addBulk(
    list.map((d) => ({
      name: WEBHOOK_JOB,
      data: { deliveryId: d.id, made: d.attempts } satisfies WebhookJobData,
      opts: {
        ...options,
        jobId: webhookJobId(d.id, d.attempts, d.manual),
        delay: Math.max(0, d.at.getTime() - now),
      },
    })),
  );
}

const live = new Set(['waiting', 'delayed', 'active', 'prioritized', 'waiting-children']);

/**
 * Overdue deliveries (due long ago, still pending in MySQL) get their job again. A job with the same
 * id that is still going to run is left alone; one that is not (finished, or left behind by Redis
 * losing part of its keys: a job hash in no list, which a plain add with the same id would take for
 * the job and skip) is removed first, so the add is not a no-op.
 */
export async function requeueOverdue(
  queue: Queue,
  list: readonly { id: string; attempts: number; at: Date }[],
): Promise<void> {
  const again: (typeof list)[number][] = [];
  for (const d of list) {
    const jobId = webhookJobId(d.id, d.attempts);
    const state = await queue.getJobState(jobId);
    if (live.has(state)) continue;
    if (state !== 'unknown' || (await queue.getJob(jobId))) await queue.remove(jobId).catch(() => {});
    again.push(d);
  }
  await queueWebhookAttempts(queue, again);
}
