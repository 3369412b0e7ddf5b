import { afterAll, beforeAll, expect, test } from 'bun:test';
import { tokenSettings } from '../api/deps';
import { issueTokenPair } from '../domain/auth/tokens';
import type { Harness } from './support/harness';
import {
  followSse,
  type LiveStack,
  reservedOrder as reservedOrderOf,
  type serveHarness,
  startLiveStack,
} from './support/live';
import type { shop } from './support/shop';
import { eventually } from './support/workers';

// An order's SSE stream re-checks its token at every heartbeat, as a WebSocket does: a logout (one
// login or all of them) or the token's expiry ends it within about a heartbeat.
const HEARTBEAT_S = 1;

let h: Harness;
let stack: LiveStack;
let srv: ReturnType<typeof serveHarness>;
let s: ReturnType<typeof shop>;

beforeAll(async () => {
  stack = await startLiveStack(
    { LIVE_HEARTBEAT_SECONDS: String(HEARTBEAT_S), LIVE_MAX_PER_USER: '5' },
    { queues: ['reserve'] },
  );
  ({ h, s, srv } = stack);
});
afterAll(async () => {
  await stack?.stop();
});

const reservedOrder = (token: string) => reservedOrderOf(s, token);

async function follow(orderId: string, token: string) {
  const res = await fetch(`${srv.url}/orders/${orderId}/events`, {
    headers: { authorization: `Bearer ${token}` },
  });
  expect(res.status).toBe(200);
  const sse = followSse(res);
  await eventually(() => sse.state.events.length === 1, 'the status event');
  return sse;
}

/** A real sign-in through the API: both tokens of one login. */
async function login(email: string) {
  const res = await h.json('POST', '/auth/login', { email, password: 'correct horse battery' });
  expect(res.status).toBe(200);
  return (await res.json()) as { accessToken: string; refreshToken: string };
}

/** A heartbeat or two, with room for a slow machine. */
const withinHeartbeats = (HEARTBEAT_S * 3 + 10) * 1000;

test('logout ends the streams of that login at the next heartbeat; another login keeps its own', async () => {
  const user = await h.signUp();
  const id = await reservedOrder(user.token);
  const ended = await login(user.email);
  const other = await login(user.email);
  const a = await follow(id, ended.accessToken);
  const b = await follow(id, other.accessToken);

  expect((await h.json('POST', '/auth/logout', { refreshToken: ended.refreshToken })).status).toBe(204);
  await eventually(() => a.state.ended, 'the logged-out stream to end', withinHeartbeats);
  expect(a.state.error).toBeUndefined();
  // Only the status it opened with: the order never changed.
  expect(a.state.events.map((e) => e.event)).toEqual(['status']);
  // The other login's stream goes on beating.
  const beats = b.state.comments;
  await eventually(
    () => b.state.comments >= beats + 2,
    'two more heartbeats on the other stream',
    withinHeartbeats,
  );
  expect(b.state.ended).toBe(false);

  // Logging out everywhere ends it too.
  expect((await h.json('POST', '/auth/logout-all', undefined, other.accessToken)).status).toBe(204);
  await eventually(() => b.state.ended, 'the stream to end after logout-all', withinHeartbeats);
  await eventually(() => h.live.slots.open === 0, 'their slots released');
}, 60_000);

test('a stream ends once its token expires', async () => {
  const user = await h.signUp();
  const id = await reservedOrder(user.token);
  // A token valid for three seconds (the configured minimum is 30: issued directly, as sign-in does).
  const short = await issueTokenPair(
    h.db,
    { ...tokenSettings(h.deps), accessTtlSeconds: 3 },
    { userId: user.id, role: 'user' },
  );
  const opened = Date.now();
  const sse = await follow(id, short.accessToken);
  const control = await follow(id, user.token);
  await eventually(() => sse.state.ended, 'the expired stream to end', 3000 + withinHeartbeats);
  // Not before the token ran out (jose allows no clock tolerance here).
  expect(Date.now() - opened).toBeGreaterThanOrEqual(2000);
  expect(sse.state.comments).toBeGreaterThanOrEqual(1);
  expect(control.state.ended).toBe(false);
  await control.cancel();
  await eventually(() => h.live.slots.open === 0, 'slots released');
}, 60_000);
