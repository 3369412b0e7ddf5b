import { afterAll, beforeAll, expect, test } from 'bun:test';
import { createLogger } from '../lib/logger';
import { createHarness, type Harness } from './support/harness';
import { shop } from './support/shop';
import { eventually, startTestWorkers, type TestWorkers } from './support/workers';

type Line = Record<string, unknown>;

/** A pino destination that keeps every JSON line, so the test reads the logs an operator would. */
function memoryLog() {
  const lines: Line[] = [];
  return {
    lines,
    destination: { write: (chunk: string) => void lines.push(JSON.parse(chunk) as Line) },
  };
}

const log = memoryLog();
let h: Harness;
let w: TestWorkers;

beforeAll(async () => {
  const logger = createLogger('info', {}, log.destination);
  h = await createHarness({ LOG_LEVEL: 'info', EMAIL_RATE_MAX: '1000' }, logger);
  w = await startTestWorkers(h, { logger, concurrency: 5 });
});
afterAll(async () => {
  await w.stop();
  await h.cleanup();
});

test('one order can be followed in the logs from its request to its email', async () => {
  const admin = await h.signUp('admin');
  const user = await h.signUp('user');
  const s = shop(h, admin);
  const p = await s.product(3);
  const res = await s.place(user.token, p, 1, 'tok_visa', { 'x-request-id': 'req-follow-me' });
  expect(res.status).toBe(202);
  expect(res.headers.get('x-request-id')).toBe('req-follow-me');
  const { id } = (await res.json()) as { id: string };

  const trail = await eventually(
    async () => log.lines.filter((l) => l.orderId === id),
    (lines) => lines.some((l) => l.msg === 'message delivered'),
  );
  const request = trail.find((l) => l.msg === 'request');
  expect(request).toMatchObject({ requestId: 'req-follow-me', method: 'POST', path: '/orders', status: 202 });
  for (const step of ['reserve', 'charge', 'notify']) {
    expect(trail.find((l) => l.msg === `${step} done`)).toMatchObject({ requestId: 'req-follow-me', step });
  }
  const delivered = trail.find((l) => l.msg === 'message delivered');
  // The email itself (the log transport stands in for Resend) carries the message id the delivery line names.
  const email = log.lines.find(
    (l) =>
      (l.notification as { idempotencyKey?: string } | undefined)?.idempotencyKey ===
      delivered?.notificationId,
  );
  expect(email).toMatchObject({ notification: { channel: 'email', subject: `Order ${id} confirmed` } });
});
