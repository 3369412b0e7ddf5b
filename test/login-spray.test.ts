import { afterAll, beforeAll, expect, test } from 'bun:test';
import { createHarness, type Harness } from './support/harness';

// A sprayer tries one password on many accounts from one address: each (address, email) pair and
// each account sees a single attempt, so only a budget per address across emails meets it.
const ADDRESS_LIMIT = 5;

let h: Harness;

beforeAll(async () => {
  h = await createHarness({
    RATE_LIMITS: 'on',
    TRUST_PROXY: 'on',
    LOGIN_ADDRESS_RATE_LIMIT_PER_MINUTE: String(ADDRESS_LIMIT),
  });
});
afterAll(async () => {
  await h.cleanup();
});

const login = (ip: string, email: string, password: string) =>
  h.json('POST', '/auth/login', { email, password }, undefined, { 'x-forwarded-for': ip });

test('one address spraying many emails is limited; another address still signs in', async () => {
  const victim = await h.signUp();
  const sprayer = '198.51.100.7';
  const statuses: number[] = [];
  for (let i = 0; i < ADDRESS_LIMIT * 3; i++) {
    const res = await login(sprayer, `someone${i}@example.test`, 'Summer2026!');
    statuses.push(res.status);
    if (res.status === 429) {
      expect(res.headers.get('content-type')).toStartWith('application/problem+json');
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    }
  }
  expect(statuses.slice(0, ADDRESS_LIMIT)).toEqual(Array(ADDRESS_LIMIT).fill(401));
  expect(statuses.slice(ADDRESS_LIMIT)).toEqual(Array(ADDRESS_LIMIT * 2).fill(429));
  // The real account, from the sprayer's address: refused too (the address is spent)…
  expect((await login(sprayer, victim.email, 'correct horse battery')).status).toBe(429);
  // …and from anywhere else it signs in, and its account budget is untouched by the spray.
  expect((await login('198.51.100.8', victim.email, 'correct horse battery')).status).toBe(200);
  const scrape = await (await h.app.request('/metrics')).text();
  expect(scrape).toMatch(/rate_limit_rejections_total\{scope="login_address"\} (\d+)/);
}, 60_000);
