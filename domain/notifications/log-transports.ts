import { ResendEmailTransport } from './resend-email';
import type {
  BatchItemResult,
  EmailMessage,
  EmailTransport,
  SendResult,
  SmsMessage,
  SmsTransport,
} from './transports';

/** What the log transports need of a logger; a pino logger fits. */
export interface NotificationLogger {
  info(obj: object, msg: string): void;
}

const logRef = (): string => `log_${crypto.randomUUID()}`;

/** Every digit but the last three becomes `*`; other characters stay: `+4915123456789` → `+**********789`. */
export function maskPhone(phone: string): string {
  let keep = 3;
  const out: string[] = [];
  for (let i = phone.length - 1; i >= 0; i--) {
    const ch = phone.charAt(i);
    if (ch >= '0' && ch <= '9') {
      out.push(keep > 0 ? ch : '*');
      keep--;
    } else {
      out.push(ch);
    }
  }
  return out.reverse().join('');
}

/** Development email: the message goes to the log instead of a provider and counts as sent. */
export class LogEmailTransport implements EmailTransport {
  readonly name = 'log';
  constructor(private readonly logger: NotificationLogger) {}

  async send(msg: EmailMessage): Promise<SendResult> {
    const providerRef = logRef();
    this.logger.info(
      {
        notification: {
          channel: 'email',
          to: msg.to,
          subject: msg.subject,
          text: msg.text,
          idempotencyKey: msg.idempotencyKey,
          providerRef,
        },
      },
      'email recorded (RESEND_API_KEY unset: not sent)',
    );
    return { providerRef };
  }

  /** A batch is logged message by message; it counts as one request, as it would at the provider. */
  async sendBatch(msgs: readonly EmailMessage[]): Promise<BatchItemResult[]> {
    const results: BatchItemResult[] = [];
    for (const msg of msgs) results.push({ ok: true, ...(await this.send(msg)) });
    return results;
  }
}

/** SMS to the log; the number is masked but for its last three digits. */
export class LogSmsTransport implements SmsTransport {
  readonly name = 'log';
  constructor(private readonly logger: NotificationLogger) {}

  async send(msg: SmsMessage): Promise<SendResult> {
    const providerRef = logRef();
    this.logger.info(
      {
        notification: {
          channel: 'sms',
          to: maskPhone(msg.to),
          text: msg.text,
          idempotencyKey: msg.idempotencyKey,
          providerRef,
        },
      },
      'sms recorded (no SMS provider configured: not sent)',
    );
    return { providerRef };
  }
}

export interface EmailTransportOptions {
  resendApiKey?: string | undefined;
  from: string;
  logger: NotificationLogger;
}

/** Resend when an API key is set, otherwise the log (API.md: "emails are recorded and logged, not sent"). */
export function createEmailTransport(opts: EmailTransportOptions): EmailTransport {
  if (opts.resendApiKey) return new ResendEmailTransport({ apiKey: opts.resendApiKey, from: opts.from });
  return new LogEmailTransport(opts.logger);
}

/** The only SMS transport so far is the log; this is where a provider would be chosen. */
export function createSmsTransport(opts: { logger: NotificationLogger }): SmsTransport {
  return new LogSmsTransport(opts.logger);
}
