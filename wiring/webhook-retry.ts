import type { Db } from '../db/client';
import { retryDelivery } from '../domain/webhooks/deliveries';
import type { Logger } from '../lib/logger';
import type { PartitionedQueues } from '../queues/partitioned';
import { queueEndpointJobs } from '../queues/webhooks';

/**
 * Sends a webhook delivery again now, the one path for every edge (`POST
 * /webhook-deliveries/{id}/retry`, the console's button): due now in MySQL, then its endpoint's job
 * added at once (a no-op when one is already waiting or running: that job, or the dispatcher's next
 * pass, takes it). When Redis cannot take it, the dispatcher's next pass adds it.
 */
export async function retryWebhookDelivery(
  deps: { db: Db; queues: PartitionedQueues; logger: Logger },
  id: string,
): Promise<{ id: string }> {
  const due = await retryDelivery(deps.db, id);
  try {
    await queueEndpointJobs(deps.queues.queues.webhooks, [due.endpointId]);
  } catch (err) {
    deps.logger.error({ err, deliveryId: due.id }, 'could not queue the retry; left to the dispatcher');
  }
  return { id: due.id };
}
