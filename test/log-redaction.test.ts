import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createLogger } from '../lib/logger';
import { createHarness, type Harness } from './support/harness';
import { shop } from './support/shop';

/** Every line the app logs, raw, as an operator's log store would receive it. */
const lines: string[] = [];
const destination = { write: (chunk: string) => void lines.push(chunk) };

let h: Harness;

beforeAll(async () => {
  h = await createHarness({ LOG_LEVEL: 'info' }, createLogger('info', {}, destination));
  // Make MySQL refuse exactly the rows these tests write, so their INSERTs fail with the values
  // as parameters: an unexpected database error, the kind that is logged as `unhandled error`.
  await h.pool.query(
    "ALTER TABLE users ADD CONSTRAINT leak_probe_user CHECK (email NOT LIKE 'leak-probe-%')",
  );
  await h.pool.query(
    "ALTER TABLE orders ADD CONSTRAINT leak_probe_order CHECK (payment_token IS NULL OR payment_token NOT LIKE 'tok_leakProbe%')",
  );
});
afterAll(async () => {
  await h.cleanup();
});

function unhandled(since: number): string[] {
  return lines.slice(since).filter((l) => (JSON.parse(l) as { msg?: string }).msg === 'unhandled error');
}

describe('a failed query does not carry its values into the log', () => {
  test('registration: neither the email, the name nor the password hash is logged', async () => {
    const since = lines.length;
    const email = `leak-probe-${h.prefix}@example.test`;
    const res = await h.json('POST', '/auth/register', {
      email,
      password: 'a password that must not leak',
      name: 'Ada Leakprobe',
    });
    expect(res.status).toBe(500);
    const logged = unhandled(since);
    expect(logged).toHaveLength(1);
    const text = logged.join('\n');
    // The line still says what failed: the statement (placeholders only) and MySQL's code.
    expect(text).toContain('insert into `users`');
    expect(text).toContain('leak_probe_user');
    for (const secret of [
      email,
      'leak-probe-',
      'Ada Leakprobe',
      '$argon2id$',
      'a password that must not leak',
    ]) {
      expect(text).not.toContain(secret);
    }
    expect(text).not.toContain('"params"');
    expect(text).not.toContain('"sql"');
  });

  test('an order: the payment token is not logged', async () => {
    const admin = await h.signUp('admin');
    const user = await h.signUp('user');
    const product = await shop(h, admin).product(5);
    const since = lines.length;
    const token = 'tok_leakProbe4242';
    const res = await h.json(
      'POST',
      '/orders',
      { items: [{ productId: product, quantity: 1 }], payment: { token } },
      user.token,
    );
    expect(res.status).toBe(500);
    const logged = unhandled(since);
    expect(logged.length).toBeGreaterThanOrEqual(1);
    const text = lines.slice(since).join('\n');
    expect(text).toContain('leak_probe_order');
    expect(text).not.toContain(token);
    expect(text).not.toContain('leakProbe');
  });
});
