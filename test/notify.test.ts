import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import {
  type EmailMessage,
  type EmailTransport,
  PermanentSendError,
  type SendResult,
  TransientSendError,
} from '../domain/notifications/transports';
import { createLogger } from '../lib/logger';
import { createTransports } from '../wiring/adapters';
import { createHarness, type Harness } from './support/harness';
import { eventually, startTestWorkers, type TestWorkers } from './support/workers';

/** Stands in for the email provider (a third party we cannot reach), behind the real port. */
class RecordingEmail implements EmailTransport {
  readonly name = 'recording';
  readonly sent: { msg: EmailMessage; at: number }[] = [];
  calls = 0;
  constructor(
    private readonly behaviour: (msg: EmailMessage, call: number) => 'ok' | 'transient' | 'permanent' = () =>
      'ok',
  ) {}
  async send(msg: EmailMessage): Promise<SendResult> {
    const outcome = this.behaviour(msg, ++this.calls);
    if (outcome === 'transient') throw new TransientSendError('provider answered 503');
    if (outcome === 'permanent') throw new PermanentSendError('provider refused the address');
    this.sent.push({ msg, at: Date.now() });
    return { providerRef: `rec_${this.calls}` };
  }
}

let h: Harness;
let w: TestWorkers | undefined;
let admin: { token: string };
let user: { token: string };

beforeAll(async () => {
  h = await createHarness({
    JOB_BACKOFF_MS: '20',
    JOB_ATTEMPTS: '4',
    EMAIL_RATE_MAX: '2',
    EMAIL_RATE_DURATION_MS: '1000',
  });
  admin = await h.signUp('admin');
  user = await h.signUp('user');
});
afterAll(async () => {
  await w?.stop();
  await h.cleanup();
});

const get = async (id: string) =>
  (await (await h.json('GET', `/notify/${id}`, undefined, admin.token)).json()) as {
    id: string;
    channel: string;
    to: string;
    status: string;
    attempts: number;
  };

async function withEmail(email: EmailTransport, fn: () => Promise<void>) {
  const base = createTransports(h.config, createLogger('silent'));
  w = await startTestWorkers(h, { queues: ['deliver'], transports: { email, sms: base.sms } });
  try {
    await fn();
  } finally {
    await w.stop();
    w = undefined;
  }
}

describe('notifications API', () => {
  test('an email is queued (202), sent through the provider once, and readable by an admin', async () => {
    const email = new RecordingEmail();
    await withEmail(email, async () => {
      const res = await h.json(
        'POST',
        '/notify/email',
        { to: 'ada@example.com', subject: 'Hello', text: 'Hi Ada' },
        admin.token,
      );
      expect(res.status).toBe(202);
      const { id, status } = (await res.json()) as { id: string; status: string };
      expect(status).toBe('queued');
      const done = await eventually(
        () => get(id),
        (n) => n.status === 'sent',
      );
      expect(done).toEqual({ id, channel: 'email', to: 'ada@example.com', status: 'sent', attempts: 1 });
      expect(email.sent.map((s) => [s.msg.to, s.msg.subject, s.msg.text, s.msg.idempotencyKey])).toEqual([
        ['ada@example.com', 'Hello', 'Hi Ada', id],
      ]);
    });
  });

  test('an SMS is sent, and its number is stored encrypted', async () => {
    await withEmail(new RecordingEmail(), async () => {
      const res = await h.json(
        'POST',
        '/notify/sms',
        { to: '+14155550199', text: 'Your code is 1234' },
        admin.token,
      );
      expect(res.status).toBe(202);
      const { id } = (await res.json()) as { id: string };
      expect(
        await eventually(
          () => get(id),
          (n) => n.status === 'sent',
        ),
      ).toMatchObject({ channel: 'sms', to: '+14155550199', attempts: 1 });
      const [rows] = await h.pool.query('SELECT recipient FROM notifications WHERE id = ?', [id]);
      const stored = (rows as { recipient: string }[])[0]?.recipient ?? '';
      expect(stored).not.toContain('4155550199');
      expect(stored.startsWith('v1.')).toBe(true);
    });
  });

  test('a transient provider error is retried; a permanent one marks the message failed', async () => {
    const email = new RecordingEmail((msg, call) =>
      msg.to.startsWith('bad') ? 'permanent' : call <= 2 ? 'transient' : 'ok',
    );
    await withEmail(email, async () => {
      const flaky = (await (
        await h.json(
          'POST',
          '/notify/email',
          { to: 'flaky@example.com', subject: 's', text: 't' },
          admin.token,
        )
      ).json()) as { id: string };
      expect(
        await eventually(
          () => get(flaky.id),
          (n) => n.status === 'sent',
        ),
      ).toMatchObject({ attempts: 3 });
      const bad = (await (
        await h.json('POST', '/notify/email', { to: 'bad@example.com', subject: 's', text: 't' }, admin.token)
      ).json()) as { id: string };
      expect(
        await eventually(
          () => get(bad.id),
          (n) => n.status === 'failed',
        ),
      ).toMatchObject({ attempts: 1 });
    });
  });

  test('email keeps to the provider request rate (2 per second here) with a one-message-per-request provider', async () => {
    const email = new RecordingEmail();
    await withEmail(email, async () => {
      const ids: string[] = [];
      for (let i = 0; i < 6; i++) {
        const res = await h.json(
          'POST',
          '/notify/email',
          { to: `r${i}@example.com`, subject: 's', text: 't' },
          admin.token,
        );
        ids.push(((await res.json()) as { id: string }).id);
      }
      await eventually(
        async () => email.sent.length,
        (n) => n === 6,
        15_000,
      );
      const times = email.sent.map((s) => s.at).sort((a, b) => a - b);
      // No window of one second holds more than two sends (a little slack for timer granularity).
      for (let i = 2; i < times.length; i++)
        expect((times[i] as number) - (times[i - 2] as number)).toBeGreaterThanOrEqual(900);
    });
  }, 30_000);

  test('admins only, and bad input is 400 problem+json', async () => {
    expect(
      (await h.json('POST', '/notify/email', { to: 'a@example.com', subject: 's', text: 't' }, user.token))
        .status,
    ).toBe(403);
    expect(
      (await h.json('POST', '/notify/email', { to: 'a@example.com', subject: 's', text: 't' })).status,
    ).toBe(401);
    expect((await h.json('GET', '/notify/ntf_nope', undefined, user.token)).status).toBe(403);
    expect((await h.json('GET', '/notify/ntf_nope', undefined, admin.token)).status).toBe(404);
    for (const body of [
      { to: 'not-an-email', subject: 's', text: 't' },
      { to: 'a@example.com', subject: '', text: 't' },
      { to: 'a@example.com', subject: 's' },
      { to: 'a@example.com', subject: 's', text: 't', cc: 'x' },
    ]) {
      const res = await h.json('POST', '/notify/email', body, admin.token);
      expect(res.status).toBe(400);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
    }
    const sms = await h.json('POST', '/notify/sms', { to: '555-1234', text: 'x' }, admin.token);
    expect(sms.status).toBe(400);
    expect(((await sms.json()) as { errors: { field: string }[] }).errors[0]?.field).toBe('to');
  });
});
