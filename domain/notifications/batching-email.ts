import { createHash } from 'node:crypto';
import { CircuitOpenError } from '../resilience';
import {
  type EmailMessage,
  type EmailTransport,
  MAX_EMAIL_BATCH,
  RateLimitedError,
  type RequestRateLimit,
  type SendResult,
  TransientSendError,
} from './transports';

export interface BatchingOptions {
  /** Messages per provider request (at most MAX_EMAIL_BATCH). */
  maxBatch: number;
  /** How long a request waits for company when fewer than `maxBatch` messages are at hand. */
  lingerMs: number;
}

/** How often a request the provider refused for its rate (429) goes again before its messages fail. */
const RATE_LIMITED_RETRIES = 5;

interface Waiting {
  msg: EmailMessage;
  resolve(result: SendResult): void;
  reject(err: unknown): void;
}

/**
 * A message handed back before it reached the provider (the process is stopping). It is refused the
 * way an open circuit refuses a call: not a try, and the job waits (delayed) instead of failing.
 */
export class HandedBackError extends CircuitOpenError {
  constructor(retryAfterMs: number) {
    super('email-requests', retryAfterMs);
    this.message = 'the worker is stopping before this message got a provider request; handed back';
    this.name = 'HandedBackError';
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * The same port, one provider request for many messages. Each message handed to it (by a `send` job,
 * or one of the many a `send-batch` job sends at once) waits for its own answer (so retries, attempts
 * and status stay per message); this transport collects the messages handed to it at the same time
 * and, each time the provider's shared request rate allows one more request, sends up to `maxBatch`
 * of them in it. Under a backlog every request is full: at 2 requests a second that is 200 messages
 * a second.
 *
 * Idempotency: a lone message goes out alone, under its own key (as before batching); a batch goes
 * under a key derived from its members' keys, so the same messages retried together are sent once.
 */
export class BatchingEmailTransport implements EmailTransport {
  readonly name: string;
  private readonly pending: Waiting[] = [];
  /** How many express messages lead `pending` (they keep their own order among themselves). */
  private expressWaiting = 0;
  private readonly maxBatch: number;
  private pumping = false;
  /** Requests the provider refused for its rate: sent again, as they were, before anything new. */
  private readonly refused: { batch: Waiting[]; tries: number }[] = [];
  /** No request leaves before this time (the provider's `Retry-After`). */
  private pausedUntil = 0;
  /** Set once the process stops: the delay after which handed-back messages are tried again. */
  private handingBack: number | undefined;

  constructor(
    private readonly inner: EmailTransport,
    private readonly limit: RequestRateLimit,
    private readonly opts: BatchingOptions,
  ) {
    this.name = inner.name;
    this.maxBatch = inner.sendBatch ? Math.max(1, Math.min(opts.maxBatch, MAX_EMAIL_BATCH)) : 1;
    this.express = { name: inner.name, send: (msg) => this.enqueue(msg, true) };
  }

  /**
   * The same transport for messages that go before every waiting one (an admin's message): it joins
   * the next request however many order emails this process already holds.
   */
  readonly express: EmailTransport;

  send(msg: EmailMessage): Promise<SendResult> {
    return this.enqueue(msg, false);
  }

  private enqueue(msg: EmailMessage, first: boolean): Promise<SendResult> {
    if (this.handingBack !== undefined) return Promise.reject(new HandedBackError(this.handingBack));
    return new Promise<SendResult>((resolve, reject) => {
      const waiting = { msg, resolve, reject };
      if (first) this.pending.splice(this.expressWaiting++, 0, waiting);
      else this.pending.push(waiting);
      void this.pump();
    });
  }

  /**
   * Shutdown: messages not yet in a request go back to their jobs, and so does any message handed in
   * from now on (a job fetched while the worker was pausing); requests under way finish.
   */
  handBack(retryAfterMs = 1000): void {
    this.handingBack = retryAfterMs;
    const waiting = [...this.refused.splice(0).flatMap((r) => r.batch), ...this.take(this.pending.length)];
    for (const w of waiting) w.reject(new HandedBackError(retryAfterMs));
  }

  /** One loop per process: wait for a request slot, then take what is waiting, up to a full batch. */
  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.refused.length > 0 || this.pending.length > 0) {
        const again = this.refused.length > 0;
        if (!again && this.pending.length < this.maxBatch && this.opts.lingerMs > 0) {
          await sleep(this.opts.lingerMs);
        }
        const pause = this.pausedUntil - Date.now();
        if (pause > 0) await sleep(pause);
        try {
          await this.limit.acquire();
        } catch (err) {
          const failed = this.refused.shift()?.batch ?? this.take(this.maxBatch);
          const error = new TransientSendError(`request rate limit unavailable: ${(err as Error).message}`);
          for (const w of failed) w.reject(error);
          continue;
        }
        const retry = this.refused.shift();
        if (retry) {
          void this.dispatch(retry.batch, retry.tries);
          continue;
        }
        // Taken after the wait for a slot, so that a slot carries everything that queued up meanwhile.
        const batch = this.take(this.maxBatch);
        if (batch.length) void this.dispatch(batch, 0);
      }
    } finally {
      this.pumping = false;
    }
  }

  private take(n: number): Waiting[] {
    const taken = this.pending.splice(0, n);
    this.expressWaiting = Math.max(0, this.expressWaiting - taken.length);
    return taken;
  }

  /**
   * A request the provider refused for its rate sent nothing: it goes again, with the same members
   * (so the same key), after the provider's `Retry-After`, without costing its messages a try.
   */
  private refusedForRate(err: unknown, batch: Waiting[], tries: number): boolean {
    if (
      !(err instanceof RateLimitedError) ||
      tries >= RATE_LIMITED_RETRIES ||
      this.handingBack !== undefined
    ) {
      return false;
    }
    this.pausedUntil = Math.max(this.pausedUntil, Date.now() + (err.retryAfterMs ?? 1000));
    this.refused.push({ batch, tries: tries + 1 });
    void this.pump();
    return true;
  }

  private async dispatch(batch: Waiting[], tries: number): Promise<void> {
    const sendBatch = this.inner.sendBatch?.bind(this.inner);
    const [first] = batch;
    if (batch.length === 1 && first) {
      try {
        first.resolve(await this.inner.send(first.msg));
      } catch (err) {
        if (!this.refusedForRate(err, batch, tries)) first.reject(err);
      }
      return;
    }
    if (!sendBatch) throw new Error('unreachable: batches need sendBatch');
    // A stable order and key: the same members make the same request, whatever order they came in.
    batch.sort((a, b) => (a.msg.idempotencyKey < b.msg.idempotencyKey ? -1 : 1));
    const idempotencyKey = batchKey(batch.map((w) => w.msg.idempotencyKey));
    try {
      const results = await sendBatch(
        batch.map((w) => w.msg),
        { idempotencyKey },
      );
      if (results.length !== batch.length) {
        throw new TransientSendError(`batch answered ${results.length} results for ${batch.length} messages`);
      }
      batch.forEach((w, i) => {
        const r = results[i];
        if (r?.ok) w.resolve({ providerRef: r.providerRef });
        else w.reject(r?.error ?? new TransientSendError('no result for this message'));
      });
    } catch (err) {
      if (!this.refusedForRate(err, batch, tries)) for (const w of batch) w.reject(err);
    }
  }
}

/** `batch_<sha256 of the members' keys>`: 70 characters, within Resend's 256. */
export function batchKey(memberKeys: readonly string[]): string {
  return `batch_${createHash('sha256')
    .update([...memberKeys].sort().join('\n'))
    .digest('hex')}`;
}
