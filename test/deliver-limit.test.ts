import { afterAll, beforeAll, expect, test } from 'bun:test';
import type { EmailMessage, EmailTransport, SendResult } from '../domain/notifications/transports';
import { createLogger } from '../lib/logger';
import { createTransports } from '../lib/wiring';
import { createHarness, type Harness } from './support/harness';
import { shop } from './support/shop';
import { eventually, startTestWorkers, type TestWorkers } from './support/workers';

/** Stands in for the email provider (a third party), behind the real port. */
class CountingEmail implements EmailTransport {
  readonly name = 'counting';
  sent = 0;
  async send(_msg: EmailMessage): Promise<SendResult> {
    this.sent++;
    return { providerRef: `cnt_${this.sent}` };
  }
}

let h: Harness;
let w: TestWorkers;

beforeAll(async () => {
  // One email per five seconds: a provider quota far below the rate orders complete at.
  h = await createHarness({ EMAIL_RATE_MAX: '1', EMAIL_RATE_DURATION_MS: '5000' });
});
afterAll(async () => {
  await w?.stop();
  await h.cleanup();
});

test('orders complete at their own pace while emails keep to the provider quota', async () => {
  const email = new CountingEmail();
  w = await startTestWorkers(h, {
    concurrency: 5,
    transports: { email, sms: createTransports(h.config, createLogger('silent')).sms },
  });
  const admin = await h.signUp('admin');
  const user = await h.signUp('user');
  const s = shop(h, admin);
  const p = await s.product(10);
  const ids: string[] = [];
  for (let i = 0; i < 6; i++)
    ids.push(((await (await s.place(user.token, p, 1)).json()) as { id: string }).id);
  for (const id of ids) {
    await eventually(
      () => s.order(id),
      (o) => o.status === 'completed',
      4000,
    );
  }
  // All six are completed, yet the quota has let at most one email a period through so far.
  expect(email.sent).toBeLessThanOrEqual(2);
  const [rows] = await h.pool.query(
    "SELECT COUNT(*) AS n FROM notifications WHERE channel = 'email' AND order_id IN (?)",
    [ids],
  );
  expect(Number((rows as { n: number }[])[0]?.n)).toBe(6);
});
