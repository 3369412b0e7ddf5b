import { afterAll, beforeAll, describe, expect, setDefaultTimeout, setSystemTime, test } from 'bun:test';
import { createApp } from '../api/app';
import type { TokenPair } from '../domain/auth/tokens';
import { createRedis } from '../lib/redis';
import { createHarness, type Harness } from './support/harness';
import { expectJson, expectProblem } from './support/problems';

// The API remembers verified access tokens (domain/auth/tokens.ts). These tests prove the cache
// changes nothing a client can see: an ended login and an expired token are refused at once.
setDefaultTimeout(60_000);

let h: Harness;
let second: ReturnType<typeof createRedis>;
/** Another API instance: its own Redis connection, the same database and prefix. */
let other: ReturnType<typeof createApp>;
let n = 0;

beforeAll(async () => {
  // Shorter than the cache's own bound on an entry (5 min), so that the expiry below is met by a
  // token the cache still holds.
  h = await createHarness({ ACCESS_TOKEN_TTL_SECONDS: '60' });
  second = createRedis(h.config.REDIS_URL, 'producer', 'orderflow-second-api');
  other = createApp({ ...h.deps, redis: second }, h.live);
});
afterAll(async () => {
  second?.disconnect();
  await h?.cleanup();
});

const PASSWORD = 'a long enough passphrase';

async function signedIn(): Promise<{ id: string; pair: TokenPair }> {
  const email = `tc${++n}_${h.prefix}@example.test`;
  const { id } = await expectJson<{ id: string }>(
    await h.json('POST', '/auth/register', { email, password: PASSWORD, name: `T ${n}` }),
    201,
  );
  const pair = await expectJson<TokenPair>(
    await h.json('POST', '/auth/login', { email, password: PASSWORD }),
    200,
  );
  return { id, pair };
}

const meOn = (app: ReturnType<typeof createApp>, userId: string, token: string) =>
  app.request(`/auth/user/${userId}`, { headers: { authorization: `Bearer ${token}` } });

describe('verified access tokens are remembered, their revocation and expiry are not', () => {
  test('a token both instances have accepted is refused by the other instance right after logout', async () => {
    const { id, pair } = await signedIn();
    // Both instances have verified (and so cached) the token.
    expect((await meOn(h.app, id, pair.accessToken)).status).toBe(200);
    expect((await meOn(other, id, pair.accessToken)).status).toBe(200);

    expect((await h.json('POST', '/auth/logout', { refreshToken: pair.refreshToken })).status).toBe(204);
    // No wait: the very next request on the other instance.
    const body = await expectProblem(await meOn(other, id, pair.accessToken), 401);
    expect(body.detail).toContain('revoked');
    await expectProblem(await meOn(h.app, id, pair.accessToken), 401);
  });

  test('a replayed refresh token revokes its login: the access token both instances cached is refused at once on both', async () => {
    const { id, pair } = await signedIn();
    // Both instances have verified (and so cached) the access token.
    expect((await meOn(h.app, id, pair.accessToken)).status).toBe(200);
    expect((await meOn(other, id, pair.accessToken)).status).toBe(200);

    // A rotation on one instance: the old refresh token is spent, the login goes on.
    const rotated = await expectJson<TokenPair>(
      await other.request('/auth/refresh', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ refreshToken: pair.refreshToken }),
      }),
      200,
    );
    expect((await meOn(h.app, id, pair.accessToken)).status).toBe(200);
    expect((await meOn(other, id, rotated.accessToken)).status).toBe(200);

    // The spent token presented again (it leaked): reuse detection ends the whole login.
    await expectProblem(await h.json('POST', '/auth/refresh', { refreshToken: pair.refreshToken }), 401);
    // No wait, on either instance: the cached first token and the rotation's token are both refused.
    for (const app of [other, h.app]) {
      for (const token of [pair.accessToken, rotated.accessToken]) {
        const body = await expectProblem(await meOn(app, id, token), 401);
        expect(body.detail).toContain('revoked');
      }
    }
    // And the rotation's refresh token is dead with its family.
    await expectProblem(await h.json('POST', '/auth/refresh', { refreshToken: rotated.refreshToken }), 401);
  });

  test('logout-all on one instance ends a cached token on the other at once', async () => {
    const { id, pair } = await signedIn();
    expect((await meOn(other, id, pair.accessToken)).status).toBe(200);
    const res = await h.app.request('/auth/logout-all', {
      method: 'POST',
      headers: { authorization: `Bearer ${pair.accessToken}` },
    });
    expect(res.status).toBe(204);
    await expectProblem(await meOn(other, id, pair.accessToken), 401);
  });

  test('a cached token is refused once its exp has passed', async () => {
    const { id, pair } = await signedIn();
    expect(pair.expiresIn).toBe(60);
    expect((await meOn(other, id, pair.accessToken)).status).toBe(200);
    try {
      setSystemTime(new Date(Date.now() + pair.expiresIn * 1000 + 1000));
      const body = await expectProblem(await meOn(other, id, pair.accessToken), 401);
      expect(body.detail.toLowerCase()).toContain('expired');
    } finally {
      setSystemTime();
    }
    // The clock back: the token is valid again, so the refusal above was the expiry, nothing else.
    expect((await meOn(other, id, pair.accessToken)).status).toBe(200);
  });
});
