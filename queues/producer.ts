import { type DefaultJobOptions, FlowProducer, Queue, type Telemetry } from 'bullmq';
import type { RedisClient } from '../lib/redis';
import {
  defaultJobOptions,
  type JobSettings,
  jobIds,
  jobNames,
  ORDER_MESSAGE_PRIORITY,
  type QueueName,
  queueNames,
} from './contract';
import { orderFlow, reserveOnly } from './flows';

/** A recorded message to hand to `deliver`; `sendJob` is the send batch it was recorded under, if any. */
export interface OutgoingMessage {
  notificationId: string;
  orderId?: string;
  sendJob?: string | null;
  /** The order's trace (lib/tracing.ts metadata): a send batch's job carries each of its orders'. */
  trace?: string | undefined;
}

/** A new order's saga to start; `trace` is its request's (lib/tracing.ts metadata) when tracing is on. */
export interface NewOrderFlow {
  orderId: string;
  withPayment: boolean;
  requestId?: string | undefined;
  trace?: string | undefined;
}

const liveStates = new Set(['active', 'waiting', 'waiting-children', 'delayed', 'prioritized']);

/** The producer side of the queue contract: what the API and the reconciler add. */
export class OrderQueues {
  readonly queues: Record<QueueName, Queue>;
  private readonly flows: FlowProducer;
  private readonly defaults: DefaultJobOptions;
  private readonly traced: boolean;

  constructor(
    private readonly connection: RedisClient,
    readonly prefix: string,
    settings: JobSettings,
    /** bullmq-otel's telemetry when tracing is on; absent, BullMQ traces nothing and costs nothing. */
    telemetry?: Telemetry,
  ) {
    this.defaults = defaultJobOptions(settings);
    this.traced = telemetry !== undefined;
    const traced = telemetry ? { telemetry } : {};
    this.queues = Object.fromEntries(
      queueNames.map((name) => [
        name,
        new Queue(name, { connection, prefix, defaultJobOptions: this.defaults, ...traced }),
      ]),
    ) as Record<QueueName, Queue>;
    this.flows = new FlowProducer({ connection, prefix, ...traced });
    // Connection errors reach the caller of each add (the API answers or leaves the order to the
    // reconciler) and readiness; the emitters' copies would only be printed as unhandled noise.
    for (const queue of Object.values(this.queues)) queue.on('error', () => {});
    this.flows.on('error', () => {});
  }

  /** The saga for a new order: the whole flow, or only the reservation when it is paid later. */
  async startOrder(orderId: string, withPayment: boolean, requestId?: string): Promise<void> {
    this.failFast();
    await this.flows.add(
      withPayment
        ? orderFlow(this.prefix, this.defaults, orderId, 'reserve', requestId)
        : reserveOnly(this.prefix, this.defaults, orderId, requestId),
    );
  }

  /** The sagas of several new orders in one round trip (the API's group commit). */
  async startOrders(list: NewOrderFlow[]): Promise<void> {
    if (list.length === 0) return;
    this.failFast();
    await this.flows.addBulk(
      list.map(({ orderId, withPayment, requestId, trace }) =>
        withPayment
          ? orderFlow(this.prefix, this.defaults, orderId, 'reserve', requestId, undefined, trace)
          : reserveOnly(this.prefix, this.defaults, orderId, requestId, trace),
      ),
    );
  }

  async resumeFrom(
    orderId: string,
    step: 'reserve' | 'charge' | 'notify',
    requestId?: string,
  ): Promise<void> {
    this.failFast();
    await this.flows.add(orderFlow(this.prefix, this.defaults, orderId, step, requestId));
  }

  /** The charge → notify tail of an order an admin approved after review (its own job ids: see Round). */
  async resumeAfterReview(orderId: string, requestId?: string): Promise<void> {
    this.failFast();
    const trace = this.traced ? await this.traceOf(orderId) : undefined;
    await this.flows.add(
      orderFlow(this.prefix, this.defaults, orderId, 'charge', requestId, 'approved', trace),
    );
  }

  /**
   * The trace an order's saga runs in, read from its first charge job (kept a while after it held the
   * order for review): the tail an admin's approval adds joins the order's trace, not the admin's
   * request. Undefined once that job is gone; the tail then runs in the approving request's trace.
   */
  private async traceOf(orderId: string): Promise<string | undefined> {
    const job = await this.queues.charge.getJob(jobIds.charge(orderId)).catch(() => undefined);
    return job?.opts.telemetry?.metadata;
  }

  /** Tells the customer a final outcome reached outside the flow (cancel, expiry, a failed lone step). */
  async notifyOutcome(orderId: string, status: string): Promise<void> {
    this.failFast();
    await this.queues.notify.add(jobNames.outcome, { orderId }, { jobId: jobIds.outcome(orderId, status) });
  }

  async send(notificationId: string, orderId?: string): Promise<void> {
    this.failFast();
    const data = { notificationId, ...(orderId ? { orderId } : {}) };
    await this.queues.deliver.add(jobNames.send, data, {
      jobId: jobIds.send(notificationId),
      ...(orderId ? { priority: ORDER_MESSAGE_PRIORITY } : {}),
    });
  }

  /**
   * Hands recorded messages to `deliver` in one round trip: one job per send batch (a notify batch's
   * messages, which share `sendJob`), and a job of its own for a message recorded without one. Job
   * ids are the batch's or the message's, so adding the same ones again while they exist is a no-op
   * (a notify retried after a crash between its commit and this add re-adds the same jobs).
   */
  async sendMany(messages: OutgoingMessage[]): Promise<void> {
    if (messages.length === 0) return;
    this.failFast();
    const batches = new Map<string, Record<string, string>>();
    const jobs: Parameters<Queue['addBulk']>[0] = [];
    for (const { notificationId, orderId, sendJob, trace } of messages) {
      if (sendJob) {
        const traces = batches.get(sendJob) ?? {};
        if (!batches.has(sendJob)) jobs.push(this.sendBatchJob(sendJob, traces));
        batches.set(sendJob, traces);
        if (trace && orderId) traces[orderId] = trace;
        continue;
      }
      jobs.push({
        name: jobNames.send,
        data: { notificationId, ...(orderId ? { orderId } : {}) },
        // As send(): an order's message waits behind admin messages (the express lane).
        opts: {
          jobId: jobIds.send(notificationId),
          ...(orderId ? { priority: ORDER_MESSAGE_PRIORITY } : {}),
          ...(trace ? { telemetry: { metadata: trace } } : {}),
        },
      });
    }
    await this.queues.deliver.addBulk(jobs);
  }

  /**
   * A send batch's job: its messages are orders', so it waits behind admin messages too. With tracing
   * on it carries each order's trace (`traces`, by order id, filled in as its messages are seen), so
   * that the delivery shows in every order's trace, not only in the notify batch's.
   */
  private sendBatchJob(sendJob: string, traces: Record<string, string> = {}) {
    return {
      name: jobNames.sendBatch,
      data: { traces },
      opts: { jobId: sendJob, priority: ORDER_MESSAGE_PRIORITY },
    };
  }

  /** Sends a recorded message again; a finished job with its id is removed first so the add is not a no-op. */
  async resend(notificationId: string, orderId?: string): Promise<void> {
    this.failFast();
    const id = jobIds.send(notificationId);
    if (!(await this.clearUnlessLive(id))) return;
    await this.send(notificationId, orderId);
  }

  /**
   * Sends what is still queued of a send batch again, with the batch's own job (never a second job
   * for its messages, so they cannot be sent by two jobs at once): nothing while that job is still
   * going to run (waiting in a backlog, retrying); a finished one is removed first.
   */
  async resendBatch(sendJob: string): Promise<void> {
    this.failFast();
    if (!(await this.clearUnlessLive(sendJob))) return;
    const { name, data, opts } = this.sendBatchJob(sendJob);
    await this.queues.deliver.add(name, data, opts);
  }

  /** False when a `deliver` job with this id is still going to run; removes it when it has finished. */
  private async clearUnlessLive(jobId: string): Promise<boolean> {
    const state = await this.queues.deliver.getJobState(jobId);
    if (liveStates.has(state)) return false;
    if (state !== 'unknown') await this.queues.deliver.remove(jobId);
    return true;
  }

  /** True when some job of this order's saga is still going to run. */
  async hasLiveJobs(orderId: string): Promise<boolean> {
    const states = await Promise.all([
      this.queues.reserve.getJobState(jobIds.reserve(orderId)),
      this.queues.charge.getJobState(jobIds.charge(orderId)),
      this.queues.notify.getJobState(jobIds.notify(orderId)),
      this.queues.charge.getJobState(jobIds.charge(orderId, 'approved')),
      this.queues.notify.getJobState(jobIds.notify(orderId, 'approved')),
    ]);
    return states.some((s) => liveStates.has(s));
  }

  /** Removes finished jobs of an order's saga so that its flow can be added again with the same ids. */
  async clearFinishedJobs(orderId: string): Promise<void> {
    await Promise.all([
      this.queues.notify.remove(jobIds.notify(orderId), { removeChildren: true }),
      this.queues.charge.remove(jobIds.charge(orderId), { removeChildren: true }),
      this.queues.reserve.remove(jobIds.reserve(orderId)),
    ]);
  }

  /**
   * A fail-fast connection (the API's) that is not connected refuses at once: BullMQ itself waits for
   * a connection's first 'ready' with no limit, which would hang the request until Redis came back.
   */
  private failFast(): void {
    if (this.connection.options.enableOfflineQueue === false && this.connection.status !== 'ready') {
      throw new Error(`Redis is not reachable (connection ${this.connection.status})`);
    }
  }

  async close(): Promise<void> {
    await Promise.all([...Object.values(this.queues).map((q) => q.close()), this.flows.close()]);
  }
}
