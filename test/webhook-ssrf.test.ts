import { afterAll, beforeAll, expect, test } from 'bun:test';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { refusedAddress } from '../domain/webhooks/addresses';
import { deliverEndpoint } from '../domain/webhooks/deliver';
import { dispatchEvents } from '../domain/webhooks/deliveries';
import { createEndpoint } from '../domain/webhooks/endpoints';
import { deliverySettingsFor } from './support/delivery-settings';
import { createHarness, type Harness } from './support/harness';
import { shop } from './support/shop';
import { type Receiver, startReceiver } from './support/webhook-receiver';

// The SSRF guard, with WEBHOOK_ALLOW_PRIVATE off (the default): refused when an endpoint is saved,
// and again at every send after resolving its name, where the checked address is the one connected to.
let h: Harness;
let admin: { id: string; token: string };
let user: { id: string; token: string };
let certDir: string;
let tls: { cert: string; key: string };
const receivers: Receiver[] = [];

beforeAll(async () => {
  h = await createHarness();
  admin = await h.signUp('admin');
  user = await h.signUp('user');
  // A throwaway certificate for `hooks.example`, so the receiver is a real https server.
  certDir = mkdtempSync(join(tmpdir(), 'of-wh-'));
  const made = Bun.spawnSync([
    'openssl',
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-keyout',
    join(certDir, 'key.pem'),
    '-out',
    join(certDir, 'cert.pem'),
    '-subj',
    '/CN=hooks.example',
    '-addext',
    'subjectAltName=DNS:hooks.example',
  ]);
  expect(made.exitCode).toBe(0);
  tls = {
    cert: readFileSync(join(certDir, 'cert.pem'), 'utf8'),
    key: readFileSync(join(certDir, 'key.pem'), 'utf8'),
  };
}, 30_000);
afterAll(async () => {
  for (const r of receivers) await r.stop();
  rmSync(certDir, { recursive: true, force: true });
  await h.cleanup();
}, 30_000);

const refusedUrls: [string, string][] = [
  ['https://127.0.0.1/hooks', 'loopback'],
  ['https://127.8.9.10/hooks', 'loopback'],
  ['https://10.1.2.3/hooks', 'private'],
  ['https://172.16.0.1/hooks', 'private'],
  ['https://172.31.255.254/hooks', 'private'],
  ['https://192.168.1.1/hooks', 'private'],
  ['https://169.254.169.254/latest/meta-data', 'link-local'],
  ['https://100.64.0.1/hooks', 'carrier-grade NAT'],
  ['https://0.0.0.0/hooks', 'unspecified'],
  ['https://224.0.0.1/hooks', 'multicast'],
  ['https://[::1]/hooks', 'loopback'],
  ['https://[::]/hooks', 'unspecified'],
  ['https://[fc00::1]/hooks', 'unique-local'],
  ['https://[fd12:3456::1]/hooks', 'unique-local'],
  ['https://[fe80::1]/hooks', 'link-local'],
  ['https://[ff02::1]/hooks', 'multicast'],
  ['https://[::ffff:127.0.0.1]/hooks', 'loopback (IPv4 inside IPv6)'],
  ['https://[::ffff:a9fe:a9fe]/hooks', 'link-local (cloud metadata) (IPv4 inside IPv6)'],
  ['https://localhost/hooks', 'loopback'],
];

/** POST /webhook-endpoints as the admin: how each case below saves an endpoint. */
function saveEndpoint(body: { url: string; events: string[] }) {
  return h.json('POST', '/webhook-endpoints', body, admin.token);
}

test('every refused address class is refused when the endpoint is saved (422 naming url), and nothing is stored', async () => {
  for (const [url, why] of refusedUrls) {
    const res = await saveEndpoint({ url, events: ['*'] });
    expect([url, res.status]).toEqual([url, 422]);
    const problem = (await res.json()) as { errors: { field: string; message: string }[] };
    expect(problem.errors[0]?.field).toBe('url');
    expect(problem.errors[0]?.message).toContain(why);
  }
  const list = await h.json('GET', '/webhook-endpoints', undefined, admin.token);
  expect(((await list.json()) as { data: unknown[] }).data).toEqual([]);
  // A public address is accepted (a literal: no DNS is needed, and none exists here).
  const ok = await saveEndpoint({ url: 'https://93.184.216.34/hooks', events: ['*'] });
  expect(ok.status).toBe(201);
  expect(refusedAddress('8.8.8.8')).toBeUndefined();
  expect(refusedAddress('2606:4700::1111')).toBeUndefined();
});

test('bad input: plain http, an unknown event type, no events (422 or 400 naming the field); a PATCH is checked too', async () => {
  const http = await saveEndpoint({ url: 'http://93.184.216.34/hooks', events: ['*'] });
  expect(http.status).toBe(422);
  expect(JSON.stringify(await http.json())).toContain('https://');
  const type = await saveEndpoint({ url: 'https://93.184.216.34/', events: ['order.shipped'] });
  expect(type.status).toBe(422);
  expect(JSON.stringify(await type.json())).toContain('order.shipped');
  const none = await saveEndpoint({ url: 'https://93.184.216.34/', events: [] });
  expect(none.status).toBe(400);
  const made = await saveEndpoint({ url: 'https://93.184.216.34/', events: ['order.paid'] });
  const { id } = (await made.json()) as { id: string };
  const patch = await h.json('PATCH', `/webhook-endpoints/${id}`, { url: 'https://10.0.0.1/' }, admin.token);
  expect(patch.status).toBe(422);
  const one = (await (
    await h.json('GET', `/webhook-endpoints/${id}`, undefined, admin.token)
  ).json()) as Record<string, unknown>;
  expect(one.url).toBe('https://93.184.216.34/');
  expect(one).not.toHaveProperty('secret');
  const disabled = await h.json(
    'PATCH',
    `/webhook-endpoints/${id}`,
    { status: 'disabled', events: ['*'] },
    admin.token,
  );
  expect((await disabled.json()) as { status: string; events: string[] }).toMatchObject({
    status: 'disabled',
    events: ['*'],
  });
});

test('wrong caller: no credential 401, a user 403, a key without webhooks:manage 403, with it 200', async () => {
  expect((await h.json('GET', '/webhook-endpoints')).status).toBe(401);
  for (const [method, path] of [
    ['GET', '/webhook-endpoints'],
    ['POST', '/webhook-endpoints'],
    ['GET', '/webhook-endpoints/whe_x'],
    ['PATCH', '/webhook-endpoints/whe_x'],
    ['DELETE', '/webhook-endpoints/whe_x'],
    ['GET', '/webhook-endpoints/whe_x/deliveries'],
    ['POST', '/webhook-deliveries/whd_x/retry'],
  ] as const) {
    const body =
      method === 'POST' || method === 'PATCH' ? { url: 'https://93.184.216.34/', events: ['*'] } : undefined;
    expect([method, path, (await h.json(method, path, body, user.token)).status]).toEqual([
      method,
      path,
      403,
    ]);
  }
  const key = async (scopes: string[]) =>
    (
      (await (await h.json('POST', '/api-keys', { name: 'erp', scopes }, admin.token)).json()) as {
        key: string;
      }
    ).key;
  expect((await h.json('GET', '/webhook-endpoints', undefined, await key(['events:read']))).status).toBe(403);
  expect((await h.json('GET', '/webhook-endpoints', undefined, await key(['webhooks:manage']))).status).toBe(
    200,
  );
});

test('a name that resolved to a public address when saved but to loopback at send time is refused, not called', async () => {
  const r = startReceiver({ tls, hostname: 'hooks.example' });
  receivers.push(r);
  // Saved while the name pointed at a public address (a resolver seam: no external DNS exists here).
  const publicThenLoopback = {
    allowPrivate: false,
    resolve: async () => [{ address: '93.184.216.34', family: 4 }],
  };
  const endpoint = await createEndpoint(
    h.db,
    h.config.piiKey,
    { url: r.url, events: ['*'] },
    publicThenLoopback,
  );
  r.secret = endpoint.secret;
  const s = shop(h, admin);
  await s.place(user.token, await s.product(5), 1);
  await dispatchEvents(h.db);
  // At send time the name resolves to the receiver on loopback (a DNS rebind).
  const settings = deliverySettingsFor(h, {
    guard: { allowPrivate: false, resolve: async () => [{ address: '127.0.0.1', family: 4 }] },
    retry: { baseSeconds: 1, maxAttempts: 3 },
    timeoutMs: 2000,
    ca: tls.cert,
  });
  const report = await deliverEndpoint(h.db, settings, endpoint.id);
  expect(report).toMatchObject({ succeeded: 0, failed: 1, stopped: 'refused' });
  // The refused attempt is the delivery's first: its row is written with it.
  const d = await onlyDeliveryOf(endpoint.id);
  expect(await row(d?.id as string)).toMatchObject({
    status: 'pending',
    attempts: 1,
    error: 'refused: hooks.example resolves to 127.0.0.1 (loopback)',
  });
  expect(r.requests).toBe(0);
  // The same send with private targets allowed (its retry made due now) does reach it, over https
  // with the certificate checked for the name: so the refusal above was the guard's.
  await h.pool.query('UPDATE webhook_deliveries SET next_attempt_at = NOW(3) WHERE id = ?', [d?.id]);
  const allowed = await deliverEndpoint(
    h.db,
    { ...settings, guard: { ...settings.guard, allowPrivate: true } },
    endpoint.id,
  );
  expect(allowed).toMatchObject({ succeeded: 1, failed: 0 });
  expect(await row(d?.id as string)).toMatchObject({ status: 'succeeded', attempts: 2, code: 200 });
  expect(r.requests).toBe(1);
  expect(r.badSignatures).toBe(0);
});

async function onlyDeliveryOf(endpointId: string): Promise<{ id: string } | undefined> {
  const [rows] = await h.pool.query('SELECT id FROM webhook_deliveries WHERE endpoint_id = ?', [endpointId]);
  expect((rows as unknown[]).length).toBe(1);
  return (rows as { id: string }[])[0];
}

async function row(id: string) {
  const [rows] = await h.pool.query(
    'SELECT status, attempts, last_status_code AS code, last_error AS error FROM webhook_deliveries WHERE id = ?',
    [id],
  );
  return (rows as { status: string; attempts: number; code: number | null; error: string | null }[])[0];
}

test('a redirect to a private address is not followed', async () => {
  const inside = startReceiver();
  receivers.push(inside);
  const outside = startReceiver();
  receivers.push(outside);
  outside.answer = () => new Response(null, { status: 302, headers: { location: `${inside.url}?stolen=1` } });
  const endpoint = await createEndpoint(
    h.db,
    h.config.piiKey,
    { url: outside.url, events: ['*'] },
    { allowPrivate: true, resolve: async () => [] },
  );
  outside.secret = endpoint.secret;
  inside.secret = endpoint.secret;
  const s = shop(h, admin);
  await s.place(user.token, await s.product(5), 1);
  await dispatchEvents(h.db);
  const settings = deliverySettingsFor(h, {
    guard: { allowPrivate: true, resolve: async () => [] },
    retry: { baseSeconds: 1, maxAttempts: 3 },
    timeoutMs: 2000,
  });
  const report = await deliverEndpoint(h.db, settings, endpoint.id);
  expect(report).toMatchObject({ succeeded: 0, failed: 1 });
  const mine = await onlyDeliveryOf(endpoint.id);
  expect(outside.requests).toBe(1);
  expect(inside.requests).toBe(0);
  const [rows] = await h.pool.query(
    'SELECT last_status_code AS code, last_error AS error FROM webhook_deliveries WHERE id = ?',
    [mine?.id],
  );
  expect((rows as { code: number; error: string }[])[0]).toEqual({
    code: 302,
    error: `redirect to ${inside.url}?stolen=1 not followed`,
  });
});

test('over https, a kept-alive connection verified for one name is never reused for another name on the same address', async () => {
  // One receiver whose certificate is for hooks.example only; a second endpoint names other.example,
  // which resolves to the same address and port. A send reuses a pooled connection: were the pool
  // keyed by the address alone, other.example's deliveries would ride hooks.example's verified one.
  const r = startReceiver({ tls, hostname: 'hooks.example' });
  receivers.push(r);
  const loopback = { allowPrivate: true, resolve: async () => [{ address: '127.0.0.1', family: 4 }] };
  const good = await createEndpoint(h.db, h.config.piiKey, { url: r.url, events: ['*'] }, loopback);
  const other = await createEndpoint(
    h.db,
    h.config.piiKey,
    { url: r.url.replace('hooks.example', 'other.example'), events: ['*'] },
    loopback,
  );
  r.secret = good.secret;
  const s = shop(h, admin);
  const product = await s.product(5);
  for (let i = 0; i < 3; i++) await s.place(user.token, product, 1);
  await dispatchEvents(h.db);
  // No worker runs: each order has its order.created event only, owed to both endpoints.
  const owed = (_id: string) => 3;
  const settings = deliverySettingsFor(h, {
    guard: loopback,
    retry: { baseSeconds: 1, maxAttempts: 3 },
    timeoutMs: 2000,
    concurrency: 2,
    ca: tls.cert,
  });
  // hooks.example first, so its verified connections sit in the pool; then other.example alone, and
  // then both endpoints' sends at once.
  expect(await deliverEndpoint(h.db, settings, good.id)).toMatchObject({
    succeeded: owed(good.id),
    failed: 0,
  });
  const sent = r.requests;
  expect(sent).toBe(owed(good.id));
  expect(r.connections.size).toBeLessThanOrEqual(2);
  const refused = await deliverEndpoint(h.db, settings, other.id);
  expect(refused.succeeded).toBe(0);
  expect(refused.failed).toBeGreaterThan(0);
  expect(r.requests).toBe(sent);
  const [rows] = await h.pool.query(
    'SELECT DISTINCT last_error AS error FROM webhook_deliveries WHERE endpoint_id = ? AND attempts > 0',
    [other.id],
  );
  const errors = (rows as { error: string }[]).map((x) => x.error);
  expect(errors.length).toBe(1);
  expect(errors[0]).toContain('CERT_ALTNAME_INVALID');
  for (let i = 0; i < 3; i++) await s.place(user.token, product, 1);
  await dispatchEvents(h.db);
  const more = 3;
  await h.pool.query(
    'UPDATE webhook_deliveries SET next_attempt_at = NOW(3) WHERE endpoint_id = ? AND status = ?',
    [other.id, 'pending'],
  );
  const [both, neither] = await Promise.all([
    deliverEndpoint(h.db, settings, good.id),
    deliverEndpoint(h.db, settings, other.id),
  ]);
  expect(both).toMatchObject({ succeeded: more, failed: 0 });
  expect(neither.succeeded).toBe(0);
  expect(r.requests).toBe(sent + more);
  expect(r.badSignatures).toBe(0);
});
