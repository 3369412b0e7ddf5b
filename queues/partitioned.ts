import type { Queue, Telemetry } from 'bullmq';
import type { RedisClient } from '../lib/redis';
import type { JobSettings, QueueName } from './contract';
import { partitionHas, partitionOf } from './partitions';
import { type NewOrderFlow, OrderQueues, type OutgoingMessage } from './producer';

/** One queue of one partition, with the labels /metrics gives its series. */
export interface PartitionQueue {
  partition: number;
  prefix: string;
  name: QueueName;
  queue: Queue;
}

/**
 * The producer over every flow family (queues/partitions.ts): each saga call goes to the family of its
 * order, so a flow, its retries, its cancellation and the reconciler's re-adds always meet the same
 * queues and job ids. Messages go to the one `deliver` queue, in partition 0.
 */
export class PartitionedQueues {
  readonly families: readonly OrderQueues[];

  constructor(
    connection: RedisClient,
    prefixes: readonly string[],
    settings: JobSettings,
    telemetry?: Telemetry,
  ) {
    if (!prefixes.length) throw new Error('at least one partition');
    this.families = prefixes.map((prefix) => new OrderQueues(connection, prefix, settings, telemetry));
  }

  private get first(): OrderQueues {
    return this.families[0] as OrderQueues;
  }

  /**
   * Partition 0's queues: the only ones with one partition; with more, where the reconciler's
   * scheduler lives (one reconciler covers every partition, it routes by order id).
   */
  get queues(): Record<QueueName, Queue> {
    return this.first.queues;
  }

  get prefix(): string {
    return this.first.prefix;
  }

  get partitions(): number {
    return this.families.length;
  }

  partitionOf(id: string): number {
    return partitionOf(id, this.families.length);
  }

  /** The family an order's jobs live in. */
  forOrder(orderId: string): OrderQueues {
    return this.families[this.partitionOf(orderId)] as OrderQueues;
  }

  /** Every queue of every partition (Bull Board, /metrics, /system/workers). */
  all(): PartitionQueue[] {
    return this.families.flatMap((family, partition) =>
      (Object.entries(family.queues) as [QueueName, Queue][])
        .filter(([name]) => partitionHas(partition, name))
        .map(([name, queue]) => ({ partition, prefix: family.prefix, name, queue })),
    );
  }

  startOrder(orderId: string, withPayment: boolean, requestId?: string): Promise<void> {
    return this.forOrder(orderId).startOrder(orderId, withPayment, requestId);
  }

  /** New orders' sagas, one `addBulk` per partition they fall in (the API's group commit). */
  async startOrders(list: NewOrderFlow[]): Promise<void> {
    const byFamily = new Map<number, typeof list>();
    for (const item of list) {
      const p = this.partitionOf(item.orderId);
      byFamily.set(p, [...(byFamily.get(p) ?? []), item]);
    }
    await Promise.all(
      [...byFamily].map(([p, items]) => (this.families[p] as OrderQueues).startOrders(items)),
    );
  }

  resumeFrom(orderId: string, step: 'reserve' | 'charge' | 'notify', requestId?: string): Promise<void> {
    return this.forOrder(orderId).resumeFrom(orderId, step, requestId);
  }

  resumeAfterReview(orderId: string, requestId?: string): Promise<void> {
    return this.forOrder(orderId).resumeAfterReview(orderId, requestId);
  }

  notifyOutcome(orderId: string, status: string): Promise<void> {
    return this.forOrder(orderId).notifyOutcome(orderId, status);
  }

  send(notificationId: string, orderId?: string): Promise<void> {
    return this.first.send(notificationId, orderId);
  }

  /** Many messages to the one `deliver` queue in one round trip (a notify batch's: one job). */
  sendMany(messages: OutgoingMessage[]): Promise<void> {
    return this.first.sendMany(messages);
  }

  resend(notificationId: string, orderId?: string): Promise<void> {
    return this.first.resend(notificationId, orderId);
  }

  resendBatch(sendJob: string): Promise<void> {
    return this.first.resendBatch(sendJob);
  }

  hasLiveJobs(orderId: string): Promise<boolean> {
    return this.forOrder(orderId).hasLiveJobs(orderId);
  }

  clearFinishedJobs(orderId: string): Promise<void> {
    return this.forOrder(orderId).clearFinishedJobs(orderId);
  }

  async close(): Promise<void> {
    await Promise.all(this.families.map((f) => f.close()));
  }
}
