import type { Breaker } from '../resilience';
import {
  type BatchItemResult,
  type EmailMessage,
  type EmailTransport,
  RateLimitedError,
  type SendResult,
  TransientSendError,
} from './transports';

/**
 * Failures that say the provider is down. A 429 for the request rate is not one: the breaker neither
 * counts it nor retries it at once (that would only earn more 429s); the batcher waits `Retry-After`.
 */
export const isSendOutage = (err: Error) =>
  err instanceof TransientSendError && !(err instanceof RateLimitedError);

/** The email provider behind a breaker: same port. */
export class ResilientEmailTransport implements EmailTransport {
  readonly name: string;
  readonly sendBatch?: EmailTransport['sendBatch'];

  constructor(
    private readonly inner: EmailTransport,
    private readonly breaker: Breaker,
  ) {
    this.name = inner.name;
    // Only a whole request that failed counts against the breaker; one refused address does not.
    const batch = inner.sendBatch?.bind(inner);
    if (batch) {
      this.sendBatch = (msgs, opts): Promise<BatchItemResult[]> => this.breaker.run(() => batch(msgs, opts));
    }
  }

  send(msg: EmailMessage): Promise<SendResult> {
    return this.breaker.run(() => this.inner.send(msg));
  }
}
