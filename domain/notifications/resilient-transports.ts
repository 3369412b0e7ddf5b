import type { Breaker } from '../resilience';
import { type EmailMessage, type EmailTransport, type SendResult, TransientSendError } from './transports';

export const isSendOutage = (err: Error) => err instanceof TransientSendError;

/** The email provider behind a breaker: same port. */
export class ResilientEmailTransport implements EmailTransport {
  readonly name: string;
  constructor(
    private readonly inner: EmailTransport,
    private readonly breaker: Breaker,
  ) {
    this.name = inner.name;
  }

  send(msg: EmailMessage): Promise<SendResult> {
    return this.breaker.run(() => this.inner.send(msg));
  }
}
