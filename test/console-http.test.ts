import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createApp } from '../api/app';
import { LiveTracking } from '../api/live/tracking';
import { createHarness, type Harness } from './support/harness';
import { shop } from './support/shop';
import { eventually, startTestWorkers } from './support/workers';

const PASSWORD = 'correct horse battery';
const ORIGIN = 'http://console.test';

let h: Harness;
let admin: { id: string; email: string; token: string };
let user: { id: string; email: string; token: string };

/** The session cookie's value out of a Set-Cookie answer. */
function sessionCookie(res: Response): string | undefined {
  const line = res.headers.getSetCookie().find((l) => l.startsWith('orderflow_console='));
  const value = line?.split(';')[0]?.split('=')[1];
  return value || undefined;
}

function post(path: string, form: Record<string, string>, headers: Record<string, string> = {}) {
  return h.app.request(path, {
    method: 'POST',
    headers: {
      host: 'console.test',
      origin: ORIGIN,
      'content-type': 'application/x-www-form-urlencoded',
      ...headers,
    },
    body: new URLSearchParams(form).toString(),
    redirect: 'manual',
  });
}

function get(path: string, cookie?: string) {
  return h.app.request(path, {
    headers: { host: 'console.test', ...(cookie ? { cookie: `orderflow_console=${cookie}` } : {}) },
    redirect: 'manual',
  });
}

async function signIn(email: string, cookie?: string): Promise<Response> {
  return post(
    '/console/sign-in',
    { email, password: PASSWORD },
    cookie ? { cookie: `orderflow_console=${cookie}` } : {},
  );
}

async function csrfOf(cookie: string): Promise<string> {
  const html = await (await get('/console/orders', cookie)).text();
  const token = /name="_csrf" value="([^"]+)"/.exec(html)?.[1];
  if (!token) throw new Error('no CSRF token on the page');
  return token;
}

beforeAll(async () => {
  h = await createHarness();
  admin = await h.signUp('admin');
  user = await h.signUp('user');
});
afterAll(async () => {
  await h.cleanup();
});

describe('/console sign-in and session', () => {
  test('without a session a page redirects to the sign-in form', async () => {
    const res = await get('/console/orders');
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/console/sign-in');
    const form = await get('/console/sign-in');
    expect(form.status).toBe(200);
    expect(await form.text()).toContain('name="password"');
  });

  test('an admin signs in: an HttpOnly, SameSite=Strict cookie with a random id, kept in Redis with a TTL', async () => {
    const res = await signIn(admin.email);
    expect(res.status).toBe(303);
    const line = res.headers.getSetCookie().find((l) => l.startsWith('orderflow_console=')) ?? '';
    expect(line).toContain('HttpOnly');
    expect(line).toContain('SameSite=Strict');
    expect(line).toContain('Path=/console');
    // Secure only in production (tests run over plain HTTP).
    expect(line).not.toContain('Secure');
    const id = sessionCookie(res) ?? '';
    expect(id.length).toBeGreaterThanOrEqual(40);
    const keys = await h.redis.keys(`${h.prefix}:console:session:*`);
    expect(keys.length).toBeGreaterThan(0);
    // Redis keeps a hash of the id, never the id itself.
    expect(keys.some((k) => k.endsWith(id))).toBe(false);
    for (const k of keys) expect(await h.redis.ttl(k)).toBeGreaterThan(0);
    expect((await get('/console/orders', id)).status).toBe(200);
  });

  test("a user's (non-admin) correct password is refused, and no session is made", async () => {
    const res = await signIn(user.email);
    expect(res.status).toBe(403);
    expect(sessionCookie(res)).toBeUndefined();
    expect(await res.text()).toContain('for admins only');
  });

  test('an unknown order is a 404 page, a bad cursor a message on the list', async () => {
    const id = sessionCookie(await signIn(admin.email)) ?? '';
    const missing = await get('/console/orders/ord_nope', id);
    expect(missing.status).toBe(404);
    expect(await missing.text()).toContain('Order not found');
    const bad = await get('/console/orders?cursor=!!!', id);
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain('Invalid cursor');
  });

  test('a wrong password is refused', async () => {
    const res = await post('/console/sign-in', { email: admin.email, password: 'wrong horse battery' });
    expect(res.status).toBe(401);
    expect(sessionCookie(res)).toBeUndefined();
  });

  test('session fixation: signing in with a cookie already set gives a NEW id, and the old one is dead', async () => {
    const first = sessionCookie(await signIn(admin.email)) ?? '';
    const planted = 'attacker-chosen-session-id-0123456789abcdefghij';
    for (const before of [first, planted]) {
      const res = await signIn(admin.email, before);
      const after = sessionCookie(res);
      expect(after).toBeDefined();
      expect(after).not.toBe(before);
      expect((await get('/console/orders', before)).status).toBe(303);
      expect((await get('/console/orders', after)).status).toBe(200);
    }
  });

  test('sign-out ends the session server-side: the old cookie no longer works', async () => {
    const id = sessionCookie(await signIn(admin.email)) ?? '';
    const csrf = await csrfOf(id);
    const out = await post('/console/sign-out', { _csrf: csrf }, { cookie: `orderflow_console=${id}` });
    expect(out.status).toBe(303);
    expect(out.headers.get('location')).toBe('/console/sign-in');
    expect((await get('/console/orders', id)).status).toBe(303);
    expect((await get('/console/events', id)).status).toBe(401);
  });
});

describe('/console CSRF', () => {
  test('a decision posted without the token, with a wrong one, or from another origin changes nothing', async () => {
    const s = shop(h, admin);
    const product = await s.product(10);
    // tok_riskLevelElevated parks the order for a decision once the workers screened it.
    const placed = await s.place(user.token, product, 1, 'tok_riskLevelElevated');
    expect(placed.status).toBe(202);
    const { id } = (await placed.json()) as { id: string };
    const workers = await startTestWorkers(h, { queues: ['reserve', 'charge'] });
    try {
      await eventually(
        () => s.order(id),
        (o) => o.status === 'review',
      );
    } finally {
      await workers.stop();
    }

    const cookie = sessionCookie(await signIn(admin.email)) ?? '';
    const csrf = await csrfOf(cookie);
    const withCookie = { cookie: `orderflow_console=${cookie}` };
    const attempts = [
      post(`/console/review/${id}`, { decision: 'reject' }, withCookie),
      post(`/console/review/${id}`, { decision: 'reject', _csrf: `${csrf.slice(0, -2)}xx` }, withCookie),
      post(
        `/console/review/${id}`,
        { decision: 'reject', _csrf: csrf },
        { ...withCookie, origin: 'http://evil.test' },
      ),
      post(`/console/review/${id}`, { decision: 'reject', _csrf: csrf }, { ...withCookie, origin: '' }),
      post('/console/sign-out', {}, withCookie),
    ];
    for (const res of await Promise.all(attempts)) expect(res.status).toBe(403);
    expect((await s.order(id)).status).toBe('review');
    // The session was not ended by the forged sign-out either.
    expect((await get('/console/orders', cookie)).status).toBe(200);

    // With the token and our origin the same form works (so the refusals above were the guard's).
    const ok = await post(`/console/review/${id}`, { decision: 'reject', _csrf: csrf }, withCookie);
    expect(ok.status).toBe(303);
    expect((await s.order(id)).status).toBe('rejected');
  });

  test('the sign-in form from another origin is refused', async () => {
    const res = await signIn(admin.email).then(() =>
      post('/console/sign-in', { email: admin.email, password: PASSWORD }, { origin: 'http://evil.test' }),
    );
    expect(res.status).toBe(403);
    expect(sessionCookie(res)).toBeUndefined();
  });
});

describe('/console review: two operators deciding at once', () => {
  test('the second sees what the first decided, on the page (no error page), and changes nothing', async () => {
    const s = shop(h, admin);
    const product = await s.product(10);
    const placed = await s.place(user.token, product, 1, 'tok_riskLevelElevated');
    const { id } = (await placed.json()) as { id: string };
    const workers = await startTestWorkers(h, { queues: ['reserve', 'charge'] });
    try {
      await eventually(
        () => s.order(id),
        (o) => o.status === 'review',
      );
    } finally {
      await workers.stop();
    }
    const first = sessionCookie(await signIn(admin.email)) ?? '';
    const second = sessionCookie(await signIn(admin.email)) ?? '';
    const [csrfA, csrfB] = [await csrfOf(first), await csrfOf(second)];
    const referer = { referer: 'http://console.test/console/review' };
    const a = await post(
      `/console/review/${id}`,
      { decision: 'reject', _csrf: csrfA },
      { cookie: `orderflow_console=${first}`, ...referer },
    );
    const b = await post(
      `/console/review/${id}`,
      { decision: 'approve', _csrf: csrfB },
      { cookie: `orderflow_console=${second}`, ...referer },
    );
    expect([a.status, b.status]).toEqual([303, 303]);
    expect(b.headers.get('location')).toBe('/console/review');
    const page = await get('/console/review', second);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('someone else already did (the order is rejected)');
    expect((await s.order(id)).status).toBe('rejected');
    // The notice is shown once.
    expect(await (await get('/console/review', second)).text()).not.toContain('someone else already did');
  });
});

describe('/console API keys form', () => {
  test('a form without a scope, with an unknown one or without a name makes nothing and says why', async () => {
    const cookie = sessionCookie(await signIn(admin.email)) ?? '';
    const csrf = await csrfOf(cookie);
    const withCookie = { cookie: `orderflow_console=${cookie}` };
    const count = async () => {
      const [rows] = await h.pool.query('SELECT COUNT(*) AS n FROM api_keys');
      return Number((rows as { n: number }[])[0]?.n);
    };
    const before = await count();
    const cases: [Record<string, string>, string][] = [
      [{ name: 'x' }, 'Scopes: choose at least one.'],
      [{ name: 'x', scopes: 'orders:everything' }, 'Scopes: unknown orders:everything.'],
      [{ name: '  ', scopes: 'orders:read' }, 'Name: must not be empty.'],
    ];
    for (const [form, message] of cases) {
      const res = await post('/console/api-keys', { ...form, _csrf: csrf }, withCookie);
      expect(res.status).toBe(400);
      expect(await res.text()).toContain(message);
    }
    expect(await count()).toBe(before);
    const ok = await post(
      '/console/api-keys',
      { name: 'ok', scopes: 'orders:read', _csrf: csrf },
      withCookie,
    );
    expect(ok.status).toBe(201);
    expect(await count()).toBe(before + 1);
  });
});

describe('/console/events', () => {
  test('counts under the live connection caps: past LIVE_MAX_PER_USER a stream is refused until one closes', async () => {
    const config = { ...h.config, LIVE_MAX_PER_USER: 1 };
    const live = new LiveTracking(h.redis, config, h.deps.metrics);
    const capped = createApp({ ...h.deps, config }, live);
    const cookie = sessionCookie(await signIn(admin.email)) ?? '';
    const open = async () =>
      capped.request('/console/events', {
        headers: { host: 'console.test', cookie: `orderflow_console=${cookie}` },
      });
    const first = await open();
    expect(first.status).toBe(200);
    const reader = first.body?.getReader();
    const chunk = new TextDecoder().decode((await reader?.read())?.value);
    expect(chunk).toContain('event: ready');
    const second = await open();
    expect(second.status).toBe(429);
    expect(second.headers.get('retry-after')).toBe('5');
    await reader?.cancel();
    const third = await eventually(open, (res) => res.status === 200, 5000);
    await third.body?.cancel();
    live.close();
  });
});
