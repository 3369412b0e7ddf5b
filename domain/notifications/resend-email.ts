import { type ErrorResponse, Resend } from 'resend';
import {
  type BatchItemResult,
  type EmailMessage,
  type EmailTransport,
  MAX_EMAIL_BATCH,
  PermanentSendError,
  RateLimitedError,
  type SendResult,
  TransientSendError,
} from './transports';

export interface ResendEmailOptions {
  apiKey: string;
  /** The sender, e.g. `Orderflow <orders@example.com>`; its domain must be verified at Resend. */
  from: string;
  /** Defaults to the SDK's own choice: `RESEND_BASE_URL`, read when this object is built, else api.resend.com. */
  baseUrl?: string;
  /** The SDK has no timeout of its own; a request still open after this counts as a network failure. */
  timeoutMs?: number;
}

/**
 * Email through Resend (SDK v6). The SDK never throws for an HTTP or network failure: it returns
 * `{ data: null, error: { statusCode, name, message }, headers }`, which is mapped here onto the port's
 * transient / permanent errors. The idempotency key goes out as the `Idempotency-Key` header, so a retried
 * job sends one email (Resend keeps keys for 24 hours).
 */
export class ResendEmailTransport implements EmailTransport {
  readonly name = 'resend';
  private readonly client: Resend;
  private readonly from: string;
  private readonly timeoutMs: number;

  constructor(opts: ResendEmailOptions) {
    this.client = new Resend(opts.apiKey, opts.baseUrl ? { baseUrl: opts.baseUrl } : undefined);
    this.from = opts.from;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
  }

  async send(msg: EmailMessage): Promise<SendResult> {
    let result: Awaited<ReturnType<Resend['emails']['send']>>;
    try {
      result = await this.client.emails.send(
        { from: this.from, to: msg.to, subject: msg.subject, text: msg.text },
        { idempotencyKey: msg.idempotencyKey, signal: AbortSignal.timeout(this.timeoutMs) },
      );
    } catch (err) {
      // Not expected (the SDK returns errors), but an unknown throw is no proof the email is unsendable.
      throw new TransientSendError(
        `Resend request failed: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    if (result.error) throw classifyResendError(result.error, result.headers);
    const id: unknown = result.data?.id;
    if (typeof id !== 'string' || id === '') {
      throw new TransientSendError('Resend answered without an email id');
    }
    return { providerRef: id };
  }

  /**
   * `POST /emails/batch` in permissive mode: a message Resend refuses (a bad address) is reported at
   * its index and fails alone, the others are sent. The answer lists the ids of the sent messages in
   * request order. A failure of the whole request is thrown, classified as for one message.
   */
  async sendBatch(
    msgs: readonly EmailMessage[],
    opts: { idempotencyKey: string },
  ): Promise<BatchItemResult[]> {
    if (msgs.length === 0) return [];
    if (msgs.length > MAX_EMAIL_BATCH)
      throw new PermanentSendError(`a batch holds at most ${MAX_EMAIL_BATCH}`);
    let result: Awaited<ReturnType<Resend['batch']['send']>>;
    try {
      result = await this.client.batch.send(
        msgs.map((m) => ({ from: this.from, to: m.to, subject: m.subject, text: m.text })),
        {
          idempotencyKey: opts.idempotencyKey,
          batchValidation: 'permissive',
          signal: AbortSignal.timeout(this.timeoutMs),
        },
      );
    } catch (err) {
      throw new TransientSendError(
        `Resend batch request failed: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    if (result.error) throw classifyResendError(result.error, result.headers);
    const body = result.data as { data?: unknown; errors?: unknown } | null;
    const ids = Array.isArray(body?.data) ? (body.data as { id?: unknown }[]) : [];
    const errors = Array.isArray(body?.errors)
      ? (body.errors as { index?: unknown; message?: unknown }[])
      : [];
    const refused = new Map<number, string>();
    for (const e of errors) {
      if (typeof e.index === 'number') refused.set(e.index, String(e.message ?? 'refused'));
    }
    if (ids.length !== msgs.length - refused.size) {
      throw new TransientSendError(
        `Resend batch answered ${ids.length} ids and ${refused.size} errors for ${msgs.length} messages`,
      );
    }
    let next = 0;
    return msgs.map((_, i): BatchItemResult => {
      const reason = refused.get(i);
      if (reason !== undefined) {
        return { ok: false, error: new PermanentSendError(`Resend refused the message: ${reason}`) };
      }
      const id = ids[next++]?.id;
      return typeof id === 'string' && id !== ''
        ? { ok: true, providerRef: id }
        : { ok: false, error: new TransientSendError('Resend answered without an email id') };
    });
  }
}

/** Name → status for error bodies that lack `statusCode` (the SDK passes the body through as is). */
const STATUS_BY_NAME: Partial<Record<string, number>> = {
  rate_limit_exceeded: 429,
  daily_quota_exceeded: 429,
  monthly_quota_exceeded: 429,
  concurrent_idempotent_requests: 409,
  internal_server_error: 500,
};

/**
 * Maps the SDK's error result onto the port:
 * - no status (network error, timeout, unparsable answer) → transient;
 * - 429 rate limit → RateLimitedError (transient: the batcher sends the same request again after
 *   `Retry-After`, or `ratelimit-reset`); 429 daily quota → transient, with that delay when sent;
 * - 429 monthly quota → permanent: no retry within a job's backoff can fix it;
 * - 409 `concurrent_idempotent_requests` (the first send with this key is still in flight) → transient;
 * - 408 and 5xx → transient; every other 4xx (validation, bad address, bad key) → permanent.
 */
export function classifyResendError(
  error: ErrorResponse,
  headers: Record<string, string> | null,
): TransientSendError | PermanentSendError {
  const status = typeof error.statusCode === 'number' ? error.statusCode : STATUS_BY_NAME[error.name];
  const text = `Resend ${status ?? 'network'} ${error.name}: ${error.message}`;
  if (status === undefined) return new TransientSendError(text);
  if (status === 429) {
    if (error.name === 'monthly_quota_exceeded') return new PermanentSendError(text);
    if (error.name === 'rate_limit_exceeded') return new RateLimitedError(text, retryAfterMs(headers));
    return new TransientSendError(text, retryAfterMs(headers));
  }
  if (status === 409 && error.name === 'concurrent_idempotent_requests') {
    return new TransientSendError(text, retryAfterMs(headers));
  }
  if (status === 408 || status >= 500) return new TransientSendError(text, retryAfterMs(headers));
  if (status >= 400) return new PermanentSendError(text);
  return new TransientSendError(text);
}

/** `Retry-After` as seconds or an HTTP date, else `ratelimit-reset` seconds; undefined when absent or junk. */
export function retryAfterMs(headers: Record<string, string> | null, now = Date.now()): number | undefined {
  if (!headers) return undefined;
  const get = (name: string) => {
    for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === name) return v.trim();
    return undefined;
  };
  const retryAfter = get('retry-after');
  if (retryAfter) {
    if (/^\d+(\.\d+)?$/.test(retryAfter)) return Math.round(Number(retryAfter) * 1000);
    const at = Date.parse(retryAfter);
    if (!Number.isNaN(at)) return Math.max(0, at - now);
  }
  const reset = get('ratelimit-reset');
  if (reset && /^\d+(\.\d+)?$/.test(reset)) return Math.round(Number(reset) * 1000);
  return undefined;
}
