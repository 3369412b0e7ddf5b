import type { Db } from '../db/client';
import { retryDelivery } from '../domain/webhooks/deliveries';
import type { Logger } from '../lib/logger';
import type { PartitionedQueues } from '../queues/partitioned';
import { queueWebhookAttempts } from '../queues/webhooks';

/**
 * Sends a webhook delivery again now, the one path for every edge (`POST
 * /webhook-deliveries/{id}/retry`, the console's button): due now in MySQL, then queued; when Redis
 * cannot take it, the dispatcher's next pass queues it.
 */
export async function retryWebhookDelivery(
  deps: { db: Db; queues: PartitionedQueues; logger: Logger },
  id: string,
): Promise<{ id: string }> {
  const due = await retryDelivery(deps.db, id);
  try {
    await queueWebhookAttempts(deps.queues.queues.webhooks, [{ ...due, manual: true }]);
  } catch (err) {
    deps.logger.error({ err, deliveryId: due.id }, 'could not queue the retry; left to the dispatcher');
  }
  return { id: due.id };
}
