import { afterAll, beforeAll, describe, expect, spyOn, test } from 'bun:test';
import { createApp } from '../api/app';
import { addressKey } from '../api/middleware/limits';
import { createLogger } from '../lib/logger';
import { createRedis } from '../lib/redis';
import { createHarness, type Harness } from './support/harness';
import { shop } from './support/shop';

const IP_LIMIT = 8;
const USER_LIMIT = 6;
const LOGIN_LIMIT = 3;
const ORDER_LIMIT = 2;
const ACCOUNT_LIMIT = 6;

let h: Harness;
let admin: { token: string };

beforeAll(async () => {
  h = await createHarness({
    RATE_LIMITS: 'on',
    TRUST_PROXY: 'on',
    IP_RATE_LIMIT_PER_MINUTE: String(IP_LIMIT),
    RATE_LIMIT_PER_MINUTE: String(USER_LIMIT),
    LOGIN_RATE_LIMIT_PER_MINUTE: String(LOGIN_LIMIT),
    ORDER_RATE_LIMIT_PER_MINUTE: String(ORDER_LIMIT),
    LOGIN_ACCOUNT_RATE_LIMIT_PER_MINUTE: String(ACCOUNT_LIMIT),
  });
  admin = await h.signUp('admin');
});
afterAll(async () => {
  await h.cleanup();
});

let nextIp = 1;
/** A fresh client address per test, so the tests' counters never meet. */
const freshIp = () => `203.0.113.${nextIp++}`;
const from = (ip: string) => ({ 'x-forwarded-for': ip });

interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
}

async function expectTooMany(res: Response, limit: number): Promise<Problem> {
  expect(res.status).toBe(429);
  expect(res.headers.get('content-type')).toStartWith('application/problem+json');
  const retryAfter = Number(res.headers.get('retry-after'));
  expect(Number.isInteger(retryAfter)).toBe(true);
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(res.headers.get('ratelimit-limit')).toBe(String(limit));
  expect(res.headers.get('ratelimit-remaining')).toBe('0');
  expect(Number(res.headers.get('ratelimit-reset'))).toBe(retryAfter);
  const body = (await res.json()) as Problem;
  expect(body.status).toBe(429);
  expect(body.title).toBe('Too Many Requests');
  return body;
}

describe('rate limits', () => {
  test('per IP: the request after the limit gets 429 problem+json with Retry-After and RateLimit-*', async () => {
    const ip = freshIp();
    for (let i = 1; i <= IP_LIMIT; i++) {
      const res = await h.json('GET', '/products', undefined, undefined, from(ip));
      expect(res.status).toBe(200);
      expect(res.headers.get('ratelimit-limit')).toBe(String(IP_LIMIT));
      expect(res.headers.get('ratelimit-remaining')).toBe(String(IP_LIMIT - i));
      const reset = Number(res.headers.get('ratelimit-reset'));
      expect(reset).toBeGreaterThanOrEqual(1);
      expect(reset).toBeLessThanOrEqual(60);
    }
    const refused = await h.json('GET', '/products', undefined, undefined, from(ip));
    const body = await expectTooMany(refused, IP_LIMIT);
    expect(body.detail).toContain('ip limit');
    expect(Number(refused.headers.get('retry-after'))).toBeLessThanOrEqual(60);
    // Someone else is unaffected; health and metrics are never limited.
    expect((await h.json('GET', '/products', undefined, undefined, from(freshIp()))).status).toBe(200);
    expect((await h.json('GET', '/health/live', undefined, undefined, from(ip))).status).toBe(200);
    const metrics = await (await h.json('GET', '/metrics', undefined, undefined, from(ip))).text();
    expect(metrics).toContain('rate_limit_rejections_total{scope="ip"} 1');
  });

  test('per user: counted across addresses', async () => {
    const user = await h.signUp('user');
    for (let i = 1; i <= USER_LIMIT; i++) {
      const res = await h.json('GET', `/auth/user/${user.id}`, undefined, user.token, from(freshIp()));
      expect(res.status).toBe(200);
      expect(res.headers.get('ratelimit-limit')).toBe(String(USER_LIMIT));
      expect(res.headers.get('ratelimit-remaining')).toBe(String(USER_LIMIT - i));
    }
    const refused = await h.json('GET', `/auth/user/${user.id}`, undefined, user.token, from(freshIp()));
    expect((await expectTooMany(refused, USER_LIMIT)).detail).toContain('user limit');
  });

  test('POST /orders: its own, tighter, per-user limit', async () => {
    const user = await h.signUp('user');
    const s = shop(h, admin);
    const p = await s.product(100);
    const ip = freshIp();
    for (let i = 0; i < ORDER_LIMIT; i++) {
      expect((await s.place(user.token, p, 1, 'tok_visa', from(ip))).status).toBe(202);
    }
    const refused = await s.place(user.token, p, 1, 'tok_visa', from(ip));
    expect((await expectTooMany(refused, ORDER_LIMIT)).detail).toContain('order limit');
    const [rows] = await h.pool.query('SELECT COUNT(*) AS n FROM orders WHERE user_id = ?', [user.id]);
    expect((rows as { n: number }[])[0]?.n).toBe(ORDER_LIMIT);
    // Reading is still allowed: only placing orders is limited this tightly.
    const listed = await h.json('GET', `/orders/user/${user.id}`, undefined, user.token, from(ip));
    expect(listed.status).toBe(200);
  });

  test('login brute force is stopped per address and email, even for the right password', async () => {
    const user = await h.signUp('user');
    const ip = freshIp();
    const login = (password: string, email = user.email) =>
      h.json('POST', '/auth/login', { email, password }, undefined, from(ip));
    for (let i = 0; i < LOGIN_LIMIT; i++) expect((await login(`wrong password ${i}`)).status).toBe(401);
    const blocked = await login('correct horse battery');
    const body = await expectTooMany(blocked, LOGIN_LIMIT);
    expect(body.detail).toContain('login limit');
    // Spent attempts block the pair for LOGIN_BLOCK_SECONDS (300 by default), beyond the minute.
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(60);
    // The same email from elsewhere still signs in; the case of the email does not make a new key.
    const elsewhere = await h.json(
      'POST',
      '/auth/login',
      { email: user.email, password: 'correct horse battery' },
      undefined,
      from(freshIp()),
    );
    expect(elsewhere.status).toBe(200);
    expect((await login('correct horse battery', user.email.toUpperCase())).status).toBe(429);
  });

  test('a successful login clears its failed attempts', async () => {
    const user = await h.signUp('user');
    const ip = freshIp();
    const login = (password: string) =>
      h.json('POST', '/auth/login', { email: user.email, password }, undefined, from(ip));
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < LOGIN_LIMIT - 1; i++) expect((await login('wrong password')).status).toBe(401);
      const ok = await login('correct horse battery');
      expect(ok.status).toBe(200);
      expect(((await ok.json()) as { tokenType: string }).tokenType).toBe('Bearer');
    }
  });

  test('two app instances over the same Redis prefix share one limit', async () => {
    const second = createApp({ ...h.deps });
    const ip = freshIp();
    const apps = [h.app, second];
    const get = (i: number) => apps[i % 2]?.request('/products', { headers: from(ip) });
    for (let i = 0; i < IP_LIMIT; i++) {
      const res = await get(i);
      expect(res?.status).toBe(200);
      expect(res?.headers.get('ratelimit-remaining')).toBe(String(IP_LIMIT - 1 - i));
    }
    // Both instances refuse the next one: neither counted only its own half.
    await expectTooMany((await get(IP_LIMIT)) as Response, IP_LIMIT);
    await expectTooMany((await get(IP_LIMIT + 1)) as Response, IP_LIMIT);
  });

  test('without TRUST_PROXY a forged X-Forwarded-For does not buy a fresh limit', async () => {
    // Every request here keys on the same socket-less address ('unknown'), whatever it claims.
    const untrusting = createApp({ ...h.deps, config: { ...h.config, TRUST_PROXY: false } });
    const get = () => untrusting.request('/products', { headers: from(freshIp()) });
    const first = await get();
    expect(first.status).toBe(200);
    let remaining = Number(first.headers.get('ratelimit-remaining'));
    while (remaining > 0) {
      const res = await get();
      expect(res.status).toBe(200);
      expect(Number(res.headers.get('ratelimit-remaining'))).toBe(remaining - 1);
      remaining -= 1;
    }
    await expectTooMany(await get(), IP_LIMIT);
  });

  test('served by Bun, the socket address is the key, and every key starts with QUEUE_PREFIX', async () => {
    const untrusting = createApp({ ...h.deps, config: { ...h.config, TRUST_PROXY: false } });
    const server = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: untrusting.fetch });
    try {
      const res = await fetch(`http://127.0.0.1:${server.port}/products`, { headers: from('198.51.100.7') });
      expect(res.status).toBe(200);
      expect(res.headers.get('ratelimit-remaining')).toBe(String(IP_LIMIT - 1));
    } finally {
      await server.stop(true);
    }
    expect(await h.redis.exists(`${h.prefix}:rl:ip:127.0.0.1`)).toBe(1);
    expect(await h.redis.exists(`${h.prefix}:rl:ip:198.51.100.7`)).toBe(0);
  });

  test('Redis unreachable: requests pass (fail open) with a logged warning', async () => {
    const dead = createRedis('redis://127.0.0.1:1', 'producer', 'rate-limit-test-dead');
    dead.on('error', () => {});
    const logger = createLogger('silent');
    const warn = spyOn(logger, 'warn');
    try {
      const app = createApp({ ...h.deps, redis: dead, logger });
      for (let i = 0; i < IP_LIMIT + 2; i++) {
        const res = await app.request('/openapi.json', { headers: from(freshIp()) });
        expect(res.status).toBe(200);
        expect(res.headers.get('ratelimit-limit')).toBeNull();
      }
      expect(warn).toHaveBeenCalled();
      expect(String(warn.mock.calls[0]?.[1])).toContain('rate limiter unavailable');
    } finally {
      warn.mockRestore();
      dead.disconnect();
    }
  });
});

describe('the dashboard sign-in', () => {
  test('wrong Basic passwords count like failed logins: once spent, even the right one waits', async () => {
    const boardAdmin = await h.signUp('admin');
    const ip = freshIp();
    const basic = (password: string) => ({
      ...from(ip),
      authorization: `Basic ${Buffer.from(`${boardAdmin.email}:${password}`).toString('base64')}`,
    });
    for (let i = 0; i < LOGIN_LIMIT; i++) {
      expect((await h.app.request('/admin/queues', { headers: basic('wrong password!') })).status).toBe(401);
    }
    const right = await h.app.request('/admin/queues', { headers: basic('correct horse battery') });
    expect(right.status).toBe(429);
    expect(Number(right.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(right.headers.get('content-type')).toStartWith('application/problem+json');
    // Another address is not held back by this one's failures.
    const elsewhere = await h.app.request('/admin/queues', {
      headers: { ...basic('correct horse battery'), ...from(freshIp()) },
    });
    expect(elsewhere.status).toBe(200);
  });
});

const basicFor = (email: string, password: string) =>
  `Basic ${Buffer.from(`${email}:${password}`).toString('base64')}`;

/** Counts argon2 verifications (the work a guess costs) while `work` runs. */
async function countVerifications(work: () => Promise<void>): Promise<number> {
  const original = Bun.password.verify.bind(Bun.password);
  let calls = 0;
  const spy = spyOn(Bun.password, 'verify').mockImplementation((password, hash, algorithm) => {
    calls++;
    return original(password, hash, algorithm);
  });
  try {
    await work();
  } finally {
    spy.mockRestore();
  }
  return calls;
}

describe('sign-in budgets shared by the login route and the board', () => {
  test('a burst of 50 wrong Basic guesses sent at once: at most the limit are checked, then even the right password waits', async () => {
    const boardAdmin = await h.signUp('admin');
    const ip = freshIp();
    let statuses: number[] = [];
    const checked = await countVerifications(async () => {
      const answers = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          h.app.request('/admin/queues', {
            headers: { ...from(ip), authorization: basicFor(boardAdmin.email, `wrong guess ${i}`) },
          }),
        ),
      );
      statuses = answers.map((r) => r.status);
    });
    expect(checked).toBeLessThanOrEqual(LOGIN_LIMIT);
    expect(statuses.filter((s) => s === 401)).toHaveLength(LOGIN_LIMIT);
    expect(statuses.filter((s) => s === 429)).toHaveLength(50 - LOGIN_LIMIT);
    const right = await h.app.request('/admin/queues', {
      headers: { ...from(ip), authorization: basicFor(boardAdmin.email, 'correct horse battery') },
    });
    expect(right.status).toBe(429);
  });

  test('the same burst from 50 addresses meets the per-account limit', async () => {
    const boardAdmin = await h.signUp('admin');
    let statuses: number[] = [];
    const checked = await countVerifications(async () => {
      const answers = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          h.app.request('/admin/queues', {
            headers: { ...from(freshIp()), authorization: basicFor(boardAdmin.email, `spread guess ${i}`) },
          }),
        ),
      );
      statuses = answers.map((r) => r.status);
    });
    expect(checked).toBeLessThanOrEqual(ACCOUNT_LIMIT);
    expect(statuses.filter((s) => s !== 429).length).toBeLessThanOrEqual(ACCOUNT_LIMIT);
    // The account is held back from every address now, at the login route too.
    const login = await h.json(
      'POST',
      '/auth/login',
      { email: boardAdmin.email, password: 'correct horse battery' },
      undefined,
      from(freshIp()),
    );
    expect((await expectTooMany(login, ACCOUNT_LIMIT)).detail).toContain('account limit');
  });

  test('guesses at /admin/queues spend the same budget as POST /auth/login', async () => {
    const user = await h.signUp('admin');
    const ip = freshIp();
    for (let i = 0; i < LOGIN_LIMIT - 1; i++) {
      const res = await h.app.request('/admin/queues', {
        headers: { ...from(ip), authorization: basicFor(user.email, `board guess ${i}`) },
      });
      expect(res.status).toBe(401);
    }
    // One attempt left for this address and email, whichever door it comes through.
    expect(
      (
        await h.json(
          'POST',
          '/auth/login',
          { email: user.email, password: 'last guess!' },
          undefined,
          from(ip),
        )
      ).status,
    ).toBe(401);
    const blocked = await h.json(
      'POST',
      '/auth/login',
      { email: user.email, password: 'correct horse battery' },
      undefined,
      from(ip),
    );
    expect((await expectTooMany(blocked, LOGIN_LIMIT)).detail).toContain('login limit');
    // And the other way round: the login route's failures close the board to this address.
    const board = await h.app.request('/admin/queues', {
      headers: { ...from(ip), authorization: basicFor(user.email, 'correct horse battery') },
    });
    expect(board.status).toBe(429);
  });

  test('per account across addresses: guesses spread over many addresses still meet one limit', async () => {
    const user = await h.signUp('user');
    const login = (password: string) =>
      h.json('POST', '/auth/login', { email: user.email, password }, undefined, from(freshIp()));
    for (let i = 0; i < ACCOUNT_LIMIT; i++) expect((await login(`wrong from afar ${i}`)).status).toBe(401);
    const refused = await login('correct horse battery');
    const body = await expectTooMany(refused, ACCOUNT_LIMIT);
    expect(body.detail).toContain('account limit');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(60);
    // Another account is not affected.
    const other = await h.signUp('user');
    const ok = await h.json(
      'POST',
      '/auth/login',
      { email: other.email, password: 'correct horse battery' },
      undefined,
      from(freshIp()),
    );
    expect(ok.status).toBe(200);
  });

  test('an address already refused does not go on draining the account budget', async () => {
    const user = await h.signUp('user');
    const ip = freshIp();
    const login = (password: string, at = ip) =>
      h.json('POST', '/auth/login', { email: user.email, password }, undefined, from(at));
    for (let i = 0; i < LOGIN_LIMIT; i++) expect((await login(`wrong ${i}`)).status).toBe(401);
    for (let i = 0; i < ACCOUNT_LIMIT * 2; i++) expect((await login(`more ${i}`)).status).toBe(429);
    // The owner, elsewhere, still signs in.
    expect((await login('correct horse battery', freshIp())).status).toBe(200);
  });

  test('a successful login gives back its point: only failures add up per account', async () => {
    const user = await h.signUp('user');
    for (let i = 0; i < ACCOUNT_LIMIT + 1; i++) {
      const res = await h.json(
        'POST',
        '/auth/login',
        { email: user.email, password: 'correct horse battery' },
        undefined,
        from(freshIp()),
      );
      expect(res.status).toBe(200);
    }
  });
});

describe('IPv6 clients are counted by /64', () => {
  test('addresses of one /64 share a key; another /64, or an IPv4 address, does not', () => {
    expect(addressKey('2001:db8:1:2::1')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:DB8:1:2:ffff:ffff:ffff:ffff')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:0db8:0001:0002:0:0:0:9')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8:1:3::1')).toBe('2001:db8:1:3::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    expect(addressKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(addressKey('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(addressKey('::ffff:c000:207')).toBe('192.0.2.7');
    expect(addressKey('192.0.2.7')).toBe('192.0.2.7');
    expect(addressKey('unknown')).toBe('unknown');
  });

  test('rotating through one /64 does not buy a fresh per-IP budget', async () => {
    const base = `2001:db8:${(nextIp++).toString(16)}:7`;
    for (let i = 0; i < IP_LIMIT; i++) {
      const res = await h.json(
        'GET',
        '/products',
        undefined,
        undefined,
        from(`${base}::${(i + 1).toString(16)}`),
      );
      expect(res.status).toBe(200);
    }
    await expectTooMany(
      await h.json('GET', '/products', undefined, undefined, from(`${base}:abcd::99`)),
      IP_LIMIT,
    );
    // The neighbouring /64 is someone else.
    const neighbour = `2001:db8:${(nextIp++).toString(16)}:8::1`;
    expect((await h.json('GET', '/products', undefined, undefined, from(neighbour))).status).toBe(200);
  });
});
