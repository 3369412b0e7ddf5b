/**
 * The notification transport port. Processors and routes depend on these types only;
 * adapters (Resend, log) live beside this file and are chosen by a factory at start.
 */

export interface EmailMessage {
  to: string;
  subject: string;
  text: string;
  /** Stable per notification, so a retried send is delivered once by the provider. */
  idempotencyKey: string;
}

export interface SmsMessage {
  to: string;
  text: string;
  idempotencyKey: string;
}

export interface SendResult {
  providerRef: string;
}

/** A failure worth retrying later (429, 5xx, network). retryAfterMs when the provider said. */
export class TransientSendError extends Error {
  constructor(
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'TransientSendError';
  }
}

/**
 * The provider refused the request for its request rate (429 rate_limit_exceeded): nothing was sent,
 * and the same request can go again after `retryAfterMs`.
 */
export class RateLimitedError extends TransientSendError {
  constructor(message: string, retryAfterMs?: number) {
    super(message, retryAfterMs);
    this.name = 'RateLimitedError';
  }
}

/** A failure no retry can fix (bad address, 4xx other than 429). */
export class PermanentSendError extends Error {
  constructor(message?: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'PermanentSendError';
  }
}

/** One message's outcome within a batch: its own provider id, or its own error. */
export type BatchItemResult =
  | { ok: true; providerRef: string }
  | { ok: false; error: PermanentSendError | TransientSendError };

/** Resend's batch endpoint takes at most 100 messages per request. */
export const MAX_EMAIL_BATCH = 100;

export interface EmailTransport {
  readonly name: string;
  send(msg: EmailMessage): Promise<SendResult>;
  /**
   * Sends up to MAX_EMAIL_BATCH messages in one provider request, answering per message in the same
   * order. The key makes the request idempotent at the provider (the same messages again send nothing
   * twice). Throws when the whole request failed (every message then shares that error). Optional: a
   * transport without it sends one message per request.
   */
  sendBatch?(msgs: readonly EmailMessage[], opts: { idempotencyKey: string }): Promise<BatchItemResult[]>;
}

/**
 * The provider's request rate, shared by every process that sends through it: `acquire` resolves
 * when one more request may go out.
 */
export interface RequestRateLimit {
  acquire(): Promise<void>;
}

export interface SmsTransport {
  readonly name: string;
  send(msg: SmsMessage): Promise<SendResult>;
}
