import type { Queue } from 'bullmq';
import { z } from 'zod';

/**
 * A webhook job: send what is due for one endpoint (ids only). MySQL is the schedule (each delivery's
 * `next_attempt_at`); the job is only the turn to work through it.
 */
export const WebhookJobData = z.strictObject({
  endpointId: z.string().min(1).max(64),
});
export type WebhookJobData = z.infer<typeof WebhookJobData>;

export const WEBHOOK_JOB = 'endpoint';

/**
 * One job id per endpoint: adding it while it exists (waiting, running) is a no-op, so at most one
 * job per endpoint exists in the whole cluster and the endpoint's send limit holds cluster-wide. A
 * job that finds more due when it ends is not needed: the dispatcher's next pass adds it again.
 */
export const webhookJobId = (endpointId: string) => `ep-${endpointId}`;

/**
 * BullMQ retries a job only for a technical failure of the processor (MySQL away), with backoff, so a
 * broken endpoint job waits (and its re-adds are no-ops) instead of failing every pass. Finished jobs
 * are removed at once (MySQL keeps the log), so the same id can be added again.
 */
const options = {
  attempts: 5,
  backoff: { type: 'exponential', delay: 1000 },
  removeOnComplete: true,
  removeOnFail: true,
};

export async function queueEndpointJobs(queue: Queue, endpointIds: readonly string[]): Promise<void> {
  if (endpointIds.length === 0) return;
  await queue.addBulk(
    endpointIds.map((endpointId) => ({
      name: WEBHOOK_JOB,
      data: { endpointId } satisfies WebhookJobData,
      opts: { ...options, jobId: webhookJobId(endpointId) },
    })),
  );
}

const live = new Set(['waiting', 'delayed', 'active', 'prioritized', 'waiting-children']);

/**
 * Endpoints whose deliveries are overdue (due longer than the grace period) should have had their
 * job run by now. A job that is still going to run is left alone; one that is not (left behind by
 * Redis losing part of its keys: a job hash in no list, which a plain add with the same id would
 * take for the job and skip) is removed first, so the add that follows is not a no-op. Costs Redis
 * calls per overdue endpoint, never per delivery.
 */
export async function clearStaleEndpointJobs(queue: Queue, endpointIds: readonly string[]): Promise<void> {
  for (const endpointId of endpointIds) {
    const jobId = webhookJobId(endpointId);
    const state = await queue.getJobState(jobId);
    if (live.has(state)) continue;
    if (state !== 'unknown' || (await queue.getJob(jobId))) await queue.remove(jobId).catch(() => {});
  }
}
