import type { DefaultJobOptions } from 'bullmq';
import { z } from 'zod';
import { newId } from '../lib/ids';

/**
 * One queue per step; `deliver` sends recorded messages through the providers, behind their rate
 * limit (kept off `notify` so that completing orders never waits for the email quota); `maintenance`
 * runs the reconciler; `webhooks` sends webhook deliveries (queues/webhooks.ts), never a step of an
 * order's flow. `--queues` takes these names.
 */
export const queueNames = ['reserve', 'charge', 'notify', 'deliver', 'maintenance', 'webhooks'] as const;
export type QueueName = (typeof queueNames)[number];

export const jobNames = {
  reserve: 'reserve',
  charge: 'charge',
  /** Tell the customer an order's final outcome (completing a paid order first). */
  outcome: 'outcome',
  /** Send one recorded message (on `deliver`: outcomes of a cancel or an expiry, the admin notify API). */
  send: 'send',
  /**
   * Send every message a notify batch recorded (on `deliver`): one job per batch, its id the batch's
   * `notifications.send_job`, no data (the job reads the batch's messages still queued).
   */
  sendBatch: 'send-batch',
  reconcile: 'reconcile',
} as const;

// Jobs carry ids only: no personal data, no secrets, nothing that can go stale.
// `requestId` ties a saga's log lines to the HTTP request that started it.
export const OrderJobData = z.strictObject({
  orderId: z.string().min(1).max(64),
  requestId: z.string().max(100).optional(),
});
export type OrderJobData = z.infer<typeof OrderJobData>;
export const SendJobData = z.strictObject({
  notificationId: z.string().min(1).max(64),
  /** The order a message is about, when it is about one: its log line then joins the order's. */
  orderId: z.string().min(1).max(64).optional(),
});
export type SendJobData = z.infer<typeof SendJobData>;

/**
 * Order messages wait behind everything else on `deliver`: BullMQ takes a job without a priority
 * before any prioritized one, so a message an admin sends (no priority) passes a backlog of order
 * emails instead of queuing behind it.
 */
export const ORDER_MESSAGE_PRIORITY = 10;

export const StepResult = z.object({ status: z.string(), changed: z.boolean() });
export type StepResult = z.infer<typeof StepResult>;

/**
 * A second charge → notify tail of the same order: after an admin approves an order held in review,
 * the first tail's jobs may still be kept as completed (removeOnComplete), and a job added with the
 * id of an existing one is silently ignored. So the tail that follows a review has ids of its own.
 */
export type Round = 'approved';

/**
 * Deterministic ids: adding the same order's jobs twice while they exist is a no-op.
 * BullMQ refuses ':' in custom ids, hence '-'.
 */
export const jobIds = {
  reserve: (orderId: string) => `${orderId}-reserve`,
  charge: (orderId: string, round?: Round) => (round ? `${orderId}-charge-${round}` : `${orderId}-charge`),
  notify: (orderId: string, round?: Round) => (round ? `${orderId}-notify-${round}` : `${orderId}-notify`),
  outcome: (orderId: string, status: string) => `${orderId}-notify-${status}`,
  send: (notificationId: string) => `${notificationId}-send`,
  /** A new send batch's id, chosen before the transaction that records its messages (`snd_…`). */
  sendBatch: () => newId('snd'),
};

export interface JobSettings {
  attempts: number;
  backoffMs: number;
}

export function defaultJobOptions(s: JobSettings): DefaultJobOptions {
  return {
    attempts: s.attempts,
    backoff: { type: 'exponential', delay: s.backoffMs, jitter: 0.3 },
    // Completed jobs go soon (MySQL keeps the truth); failed ones stay a week for operators.
    removeOnComplete: { age: 3600, count: 10_000 },
    removeOnFail: { age: 7 * 86_400, count: 50_000 },
  };
}
