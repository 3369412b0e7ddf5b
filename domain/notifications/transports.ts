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

/** A failure no retry can fix (bad address, 4xx other than 429). */
export class PermanentSendError extends Error {
  constructor(message?: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'PermanentSendError';
  }
}

export interface EmailTransport {
  readonly name: string;
  send(msg: EmailMessage): Promise<SendResult>;
}

export interface SmsTransport {
  readonly name: string;
  send(msg: SmsMessage): Promise<SendResult>;
}
