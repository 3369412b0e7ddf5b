import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'bun:test';
import type { Server } from 'bun';
import {
  createEmailTransport,
  LogEmailTransport,
  LogSmsTransport,
  maskPhone,
  type NotificationLogger,
} from '../domain/notifications/log-transports';
import { ResendEmailTransport, retryAfterMs } from '../domain/notifications/resend-email';
import { PermanentSendError, RateLimitedError, TransientSendError } from '../domain/notifications/transports';
import { createLogger } from '../lib/logger';

// The app's pino logger must fit the port the log transports take.
const _pinoFits: NotificationLogger = createLogger('silent');
void _pinoFits;

interface Seen {
  method: string;
  path: string;
  headers: Headers;
  body: unknown;
}

/** What the stand-in answers next; each test sets it. */
type Answer = () => Response | Promise<Response>;

const API_KEY = 're_test_123456';
let server: Server<undefined>;
let seen: Seen[] = [];
let answer: Answer = () => Response.json({ id: 'default' });
let savedBaseUrl: string | undefined;
const releaseHung: Array<() => void> = [];

beforeAll(() => {
  server = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    async fetch(req) {
      const url = new URL(req.url);
      const text = await req.text();
      seen.push({
        method: req.method,
        path: url.pathname,
        headers: req.headers,
        body: text ? JSON.parse(text) : null,
      });
      return answer();
    },
  });
  // The SDK reads RESEND_BASE_URL when a client is constructed (not at import): set it before building one.
  savedBaseUrl = process.env.RESEND_BASE_URL;
  process.env.RESEND_BASE_URL = `http://127.0.0.1:${server.port}`;
});

afterAll(async () => {
  for (const release of releaseHung) release();
  await server.stop(true);
  if (savedBaseUrl === undefined) delete process.env.RESEND_BASE_URL;
  else process.env.RESEND_BASE_URL = savedBaseUrl;
});

beforeEach(() => {
  seen = [];
});

const message = {
  to: 'customer@example.com',
  subject: 'Your order ord_1 is complete',
  text: 'Thanks for your order.',
  idempotencyKey: 'ntf_abc-email',
};

const transport = () => new ResendEmailTransport({ apiKey: API_KEY, from: 'Orderflow <orders@example.com>' });

const errorBody = (statusCode: number, name: string, message: string) => ({ statusCode, name, message });

async function sendError(): Promise<unknown> {
  try {
    await transport().send(message);
  } catch (err) {
    return err;
  }
  throw new Error('expected send to fail');
}

describe('ResendEmailTransport against a stand-in of the Resend API', () => {
  test('sends POST /emails with the key, the message and the Idempotency-Key; returns the provider id', async () => {
    answer = () => Response.json({ id: '49a3999c-0ce1-4ea6-ab68-afcd6dc2e794' });
    const t = transport();
    expect(t.name).toBe('resend');
    const result = await t.send(message);
    expect(result).toEqual({ providerRef: '49a3999c-0ce1-4ea6-ab68-afcd6dc2e794' });

    expect(seen).toHaveLength(1);
    const req = seen[0];
    if (!req) throw new Error('no request seen');
    expect(req.method).toBe('POST');
    expect(req.path).toBe('/emails');
    expect(req.headers.get('authorization')).toBe(`Bearer ${API_KEY}`);
    expect(req.headers.get('content-type')).toContain('application/json');
    expect(req.headers.get('idempotency-key')).toBe('ntf_abc-email');
    expect(req.body).toMatchObject({
      from: 'Orderflow <orders@example.com>',
      to: 'customer@example.com',
      subject: 'Your order ord_1 is complete',
      text: 'Thanks for your order.',
    });
  });

  test('an explicit baseUrl wins over RESEND_BASE_URL', async () => {
    answer = () => Response.json({ id: 'explicit' });
    const t = new ResendEmailTransport({
      apiKey: API_KEY,
      from: 'orders@example.com',
      baseUrl: `http://127.0.0.1:${server.port}/explicit`,
    });
    expect(await t.send(message)).toEqual({ providerRef: 'explicit' });
    expect(seen[0]?.path).toBe('/explicit/emails');
  });

  test('an error body without statusCode is classified by its name', async () => {
    answer = () =>
      Response.json(
        { name: 'rate_limit_exceeded', message: 'slow down' },
        { status: 429, headers: { 'ratelimit-reset': '2' } },
      );
    const err = await sendError();
    expect(err).toBeInstanceOf(TransientSendError);
    expect((err as TransientSendError).retryAfterMs).toBe(2000);
  });

  test('429 with Retry-After is transient and carries the delay', async () => {
    answer = () =>
      Response.json(
        errorBody(429, 'rate_limit_exceeded', 'Too many requests. You can only make 2 requests per second.'),
        {
          status: 429,
          headers: { 'retry-after': '3' },
        },
      );
    const err = await sendError();
    expect(err).toBeInstanceOf(TransientSendError);
    // A refusal for the request rate, which the batcher answers by sending the same request later.
    expect(err).toBeInstanceOf(RateLimitedError);
    expect((err as TransientSendError).retryAfterMs).toBe(3000);
    expect((err as TransientSendError).message).toContain('rate_limit_exceeded');
  });

  test('500 is transient', async () => {
    answer = () =>
      Response.json(errorBody(500, 'internal_server_error', 'An unexpected error occurred.'), {
        status: 500,
      });
    const err = await sendError();
    expect(err).toBeInstanceOf(TransientSendError);
    expect((err as TransientSendError).retryAfterMs).toBeUndefined();
  });

  test('a 502 whose body is not JSON is transient', async () => {
    answer = () => new Response('<html>bad gateway</html>', { status: 502 });
    expect(await sendError()).toBeInstanceOf(TransientSendError);
  });

  test('422 validation error is permanent', async () => {
    answer = () => Response.json(errorBody(422, 'validation_error', 'Invalid `to` field.'), { status: 422 });
    const err = await sendError();
    expect(err).toBeInstanceOf(PermanentSendError);
    expect(err).not.toBeInstanceOf(TransientSendError);
    expect((err as Error).message).toContain('validation_error');
  });

  test('403 (bad key or unverified domain) is permanent; monthly quota is permanent', async () => {
    answer = () => Response.json(errorBody(403, 'invalid_api_key', 'API key is invalid'), { status: 403 });
    expect(await sendError()).toBeInstanceOf(PermanentSendError);
    answer = () =>
      Response.json(errorBody(429, 'monthly_quota_exceeded', 'You have reached your monthly quota'), {
        status: 429,
      });
    expect(await sendError()).toBeInstanceOf(PermanentSendError);
  });

  test('409 concurrent_idempotent_requests is transient', async () => {
    answer = () =>
      Response.json(errorBody(409, 'concurrent_idempotent_requests', 'Same key in flight'), { status: 409 });
    expect(await sendError()).toBeInstanceOf(TransientSendError);
  });

  test('a network failure (nothing listening) is transient', async () => {
    const closed = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: () => new Response('') });
    const url = `http://127.0.0.1:${closed.port}`;
    await closed.stop(true);
    const t = new ResendEmailTransport({ apiKey: API_KEY, from: 'orders@example.com', baseUrl: url });
    await expect(t.send(message)).rejects.toBeInstanceOf(TransientSendError);
  });

  test('a provider that does not answer in time is transient', async () => {
    answer = () =>
      new Promise<Response>((resolve) => {
        releaseHung.push(() => resolve(Response.json({ id: 'late' })));
      });
    const t = new ResendEmailTransport({ apiKey: API_KEY, from: 'orders@example.com', timeoutMs: 200 });
    const started = Date.now();
    await expect(t.send(message)).rejects.toBeInstanceOf(TransientSendError);
    expect(Date.now() - started).toBeLessThan(5000);
  });
});

describe('ResendEmailTransport.sendBatch against the stand-in', () => {
  const batch = [
    { ...message, to: 'a@example.com', idempotencyKey: 'ntf_a' },
    { ...message, to: 'not-an-address', idempotencyKey: 'ntf_b' },
    { ...message, to: 'c@example.com', idempotencyKey: 'ntf_c' },
  ];

  test('POST /emails/batch, permissive, under the batch key; ids and refusals map back by position', async () => {
    answer = () =>
      Response.json({
        data: [{ id: 'id-a' }, { id: 'id-c' }],
        errors: [{ index: 1, message: 'Invalid `to` field.' }],
      });
    const results = await transport().sendBatch(batch, { idempotencyKey: 'batch_123' });
    expect(seen).toHaveLength(1);
    const req = seen[0];
    expect(req?.method).toBe('POST');
    expect(req?.path).toBe('/emails/batch');
    expect(req?.headers.get('authorization')).toBe(`Bearer ${API_KEY}`);
    expect(req?.headers.get('idempotency-key')).toBe('batch_123');
    expect(req?.headers.get('x-batch-validation')).toBe('permissive');
    expect(req?.body).toEqual(
      batch.map((m) => ({
        from: 'Orderflow <orders@example.com>',
        to: m.to,
        subject: m.subject,
        text: m.text,
      })),
    );
    expect(results[0]).toEqual({ ok: true, providerRef: 'id-a' });
    expect(results[1]?.ok).toBe(false);
    if (results[1]?.ok === false) {
      expect(results[1].error).toBeInstanceOf(PermanentSendError);
      expect(results[1].error.message).toContain('Invalid `to` field.');
    }
    expect(results[2]).toEqual({ ok: true, providerRef: 'id-c' });
  });

  test('a failure of the whole request is thrown, classified as for one message', async () => {
    answer = () =>
      Response.json(errorBody(429, 'rate_limit_exceeded', 'Too many requests'), {
        status: 429,
        headers: { 'retry-after': '1' },
      });
    const err = await transport()
      .sendBatch(batch, { idempotencyKey: 'batch_429' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransientSendError);
    expect((err as TransientSendError).retryAfterMs).toBe(1000);
    answer = () => Response.json(errorBody(403, 'invalid_api_key', 'API key is invalid'), { status: 403 });
    expect(
      await transport()
        .sendBatch(batch, { idempotencyKey: 'batch_403' })
        .catch((e: unknown) => e),
    ).toBeInstanceOf(PermanentSendError);
  });

  test('an answer that does not account for every message is transient (nothing is guessed)', async () => {
    answer = () => Response.json({ data: [{ id: 'only-one' }], errors: [] });
    const err = await transport()
      .sendBatch(batch, { idempotencyKey: 'batch_short' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransientSendError);
  });
});

describe('retryAfterMs', () => {
  test('reads seconds, an HTTP date, or ratelimit-reset', () => {
    const now = Date.parse('2025-01-01T00:00:00Z');
    expect(retryAfterMs({ 'retry-after': '2' }, now)).toBe(2000);
    expect(retryAfterMs({ 'retry-after': 'Wed, 01 Jan 2025 00:00:05 GMT' }, now)).toBe(5000);
    expect(retryAfterMs({ 'ratelimit-reset': '1' }, now)).toBe(1000);
    expect(retryAfterMs({ 'retry-after': 'soon' }, now)).toBeUndefined();
    expect(retryAfterMs(null, now)).toBeUndefined();
  });
});

describe('log transports', () => {
  const recorder = () => {
    const lines: Array<{ obj: object; msg: string }> = [];
    const logger: NotificationLogger = { info: (obj, msg) => lines.push({ obj, msg }) };
    return { lines, logger };
  };

  test('maskPhone keeps only the last three digits', () => {
    expect(maskPhone('+4915123456789')).toBe('+**********789');
    expect(maskPhone('+1 (555) 010-4242')).toBe('+* (***) ***-*242');
  });

  test('LogSmsTransport logs the message with the number masked and returns a log_ ref', async () => {
    const { lines, logger } = recorder();
    const sms = new LogSmsTransport(logger);
    const result = await sms.send({ to: '+4915123456789', text: 'Your order shipped', idempotencyKey: 'k1' });
    expect(result.providerRef).toMatch(/^log_[0-9a-f-]{36}$/);
    expect(lines).toHaveLength(1);
    const logged = JSON.stringify(lines[0]?.obj);
    expect(logged).not.toContain('4915123456789');
    expect(logged).not.toContain('15123456');
    expect(logged).toContain('+**********789');
    expect(logged).toContain('Your order shipped');
    expect(logged).toContain(result.providerRef);
  });

  test('LogEmailTransport logs and returns a log_ ref', async () => {
    const { lines, logger } = recorder();
    const result = await new LogEmailTransport(logger).send(message);
    expect(result.providerRef).toMatch(/^log_/);
    expect(JSON.stringify(lines[0]?.obj)).toContain(message.subject);
  });

  test('LogEmailTransport logs a batch message by message, each with its own ref', async () => {
    const { lines, logger } = recorder();
    const results = await new LogEmailTransport(logger).sendBatch([
      message,
      { ...message, to: 'other@example.com', idempotencyKey: 'k2' },
    ]);
    expect(results).toHaveLength(2);
    expect(results.every((r) => r.ok && r.providerRef.startsWith('log_'))).toBe(true);
    expect(lines.map((l) => JSON.stringify(l.obj))).toEqual([
      expect.stringContaining('customer@example.com'),
      expect.stringContaining('other@example.com'),
    ]);
  });

  test('createEmailTransport picks Resend only when a key is set', () => {
    const { logger } = recorder();
    expect(createEmailTransport({ from: 'a@b.c', logger }).name).toBe('log');
    expect(createEmailTransport({ resendApiKey: '', from: 'a@b.c', logger }).name).toBe('log');
    expect(createEmailTransport({ resendApiKey: API_KEY, from: 'a@b.c', logger }).name).toBe('resend');
  });
});
