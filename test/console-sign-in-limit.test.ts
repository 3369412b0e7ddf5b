import { afterAll, beforeAll, expect, test } from 'bun:test';
import { createHarness, type Harness } from './support/harness';

const LOGIN_LIMIT = 3;
let h: Harness;
let admin: { email: string };

beforeAll(async () => {
  h = await createHarness({
    RATE_LIMITS: 'on',
    TRUST_PROXY: 'on',
    LOGIN_RATE_LIMIT_PER_MINUTE: String(LOGIN_LIMIT),
    LOGIN_ACCOUNT_RATE_LIMIT_PER_MINUTE: '100',
  });
  admin = await h.signUp('admin');
});
afterAll(async () => {
  await h.cleanup();
});

const consoleSignIn = (ip: string, password: string) =>
  h.app.request('/console/sign-in', {
    method: 'POST',
    headers: {
      host: 'console.test',
      origin: 'http://console.test',
      'content-type': 'application/x-www-form-urlencoded',
      'x-forwarded-for': ip,
    },
    body: new URLSearchParams({ email: admin.email, password }).toString(),
    redirect: 'manual',
  });

test('the console spends the same sign-in budget as POST /auth/login: past it, even the right password waits', async () => {
  const ip = '203.0.113.77';
  // Two wrong guesses at the API, one at the console: the address's budget for this email is spent.
  for (let i = 0; i < 2; i++) {
    const res = await h.json(
      'POST',
      '/auth/login',
      { email: admin.email, password: 'wrong horse battery' },
      undefined,
      { 'x-forwarded-for': ip },
    );
    expect(res.status).toBe(401);
  }
  expect((await consoleSignIn(ip, 'wrong horse battery')).status).toBe(401);
  const refused = await consoleSignIn(ip, 'correct horse battery');
  expect(refused.status).toBe(429);
  expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
  expect(await refused.text()).toContain('Too many sign-in attempts');
  expect(
    refused.headers.getSetCookie().some((l) => l.startsWith('orderflow_console=') && !l.includes('=;')),
  ).toBe(false);
  // Another address has its own budget.
  expect((await consoleSignIn('203.0.113.78', 'correct horse battery')).status).toBe(303);
});
