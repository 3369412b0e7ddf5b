import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test';
import { SignJWT } from 'jose';
import type { RowDataPacket } from 'mysql2';
import type { TokenPair } from '../domain/auth/tokens';
import { createHarness, type Harness } from './support/harness';
import { expectJson, expectProblem } from './support/problems';

interface User {
  id: string;
  email: string;
  name: string;
  role: 'user' | 'admin';
  phone?: string;
}

const PASSWORD = 'a long enough passphrase';
const ISSUER = 'orderflow';
const AUDIENCE = 'orderflow-api';

// Password hashing and the concurrency burst run slow on a loaded 2-core machine; bun's default is 5 s.
setDefaultTimeout(30_000);

let h: Harness;
let emailN = 0;
const freshEmail = () => `auth${++emailN}_${h.prefix}@example.test`;

beforeAll(async () => {
  h = await createHarness();
});

afterAll(async () => {
  await h?.cleanup();
});

async function register(body: Record<string, unknown>): Promise<Response> {
  return h.json('POST', '/auth/register', body);
}

async function login(email: string, password = PASSWORD): Promise<TokenPair> {
  return expectJson<TokenPair>(await h.json('POST', '/auth/login', { email, password }), 200);
}

const nowSeconds = () => Math.floor(Date.now() / 1000);
const b64url = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

/** An HS256 token with the given claims, signed with `secret` (the harness's unless told). */
async function signToken(
  claims: { sub: string; role: string; iss?: string; aud?: string; exp?: number; iat?: number },
  secret: string = h.config.jwtSecret,
): Promise<string> {
  const iat = claims.iat ?? nowSeconds();
  return new SignJWT({ role: claims.role })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(claims.sub)
    .setIssuer(claims.iss ?? ISSUER)
    .setAudience(claims.aud ?? AUDIENCE)
    .setIssuedAt(iat)
    .setExpirationTime(claims.exp ?? iat + 600)
    .sign(new TextEncoder().encode(secret));
}

describe('register, login, refresh', () => {
  test('a registered user logs in, refreshes, and uses the new access token', async () => {
    const email = freshEmail();
    const created = await expectJson<User>(await register({ email, password: PASSWORD, name: 'Ada' }), 201);
    expect(created).toMatchObject({ email, name: 'Ada', role: 'user' });
    expect(typeof created.id).toBe('string');
    expect(created).not.toHaveProperty('password');
    expect(created).not.toHaveProperty('passwordHash');

    const first = await login(email);
    expect(first.tokenType).toBe('Bearer');
    expect(first.expiresIn).toBeGreaterThan(0);
    expect(first.accessToken.split('.')).toHaveLength(3);
    expect(first.refreshToken.length).toBeGreaterThan(20);

    const second = await expectJson<TokenPair>(
      await h.json('POST', '/auth/refresh', { refreshToken: first.refreshToken }),
      200,
    );
    expect(second.tokenType).toBe('Bearer');
    expect(second.refreshToken).not.toBe(first.refreshToken);
    expect(second.accessToken).not.toBe(first.accessToken);

    const me = await expectJson<User>(
      await h.json('GET', `/auth/user/${created.id}`, undefined, second.accessToken),
      200,
    );
    expect(me).toMatchObject({ id: created.id, email, name: 'Ada', role: 'user' });
  });

  test('the email is matched case-insensitively at login', async () => {
    const email = freshEmail();
    await expectJson<User>(await register({ email, password: PASSWORD, name: 'Case' }), 201);
    const pair = await login(email.toUpperCase());
    expect(pair.tokenType).toBe('Bearer');
  });

  test('a refresh token works once; reusing it revokes the whole family', async () => {
    const email = freshEmail();
    await expectJson<User>(await register({ email, password: PASSWORD, name: 'Reuse' }), 201);
    const original = await login(email);

    const rotated = await expectJson<TokenPair>(
      await h.json('POST', '/auth/refresh', { refreshToken: original.refreshToken }),
      200,
    );
    // The spent token is refused...
    await expectProblem(await h.json('POST', '/auth/refresh', { refreshToken: original.refreshToken }), 401);
    // ...and its reuse revoked the token the first rotation issued.
    await expectProblem(await h.json('POST', '/auth/refresh', { refreshToken: rotated.refreshToken }), 401);

    // Another login (another family) is untouched by that revocation.
    const other = await login(email);
    await expectJson<TokenPair>(
      await h.json('POST', '/auth/refresh', { refreshToken: other.refreshToken }),
      200,
    );
  });

  test("reusing a spent refresh token also ends that login's access tokens, not another login's", async () => {
    const email = freshEmail();
    const user = await expectJson<User>(await register({ email, password: PASSWORD, name: 'Stolen' }), 201);
    const original = await login(email);
    const other = await login(email);
    const rotated = await expectJson<TokenPair>(
      await h.json('POST', '/auth/refresh', { refreshToken: original.refreshToken }),
      200,
    );
    const me = (token: string) => h.json('GET', `/auth/user/${user.id}`, undefined, token);
    expect((await me(original.accessToken)).status).toBe(200);
    expect((await me(rotated.accessToken)).status).toBe(200);

    await expectProblem(await h.json('POST', '/auth/refresh', { refreshToken: original.refreshToken }), 401);

    await expectProblem(await me(original.accessToken), 401);
    await expectProblem(await me(rotated.accessToken), 401);
    expect((await me(other.accessToken)).status).toBe(200);
  });

  test('the same refresh token presented twice at once: at most one new pair, and then none of the family works', async () => {
    const email = freshEmail();
    const user = await expectJson<User>(await register({ email, password: PASSWORD, name: 'Race' }), 201);
    for (let round = 0; round < 5; round++) {
      const pair = await login(email);
      const answers = await Promise.all(
        Array.from({ length: 2 }, () => h.json('POST', '/auth/refresh', { refreshToken: pair.refreshToken })),
      );
      const statuses = answers.map((r) => r.status).sort();
      // Both presented the same token: whichever came second is a reuse, whatever the interleaving.
      expect(statuses).toContainEqual(401);
      expect(statuses.filter((s) => s === 200).length).toBeLessThanOrEqual(1);
      const won = answers.find((r) => r.status === 200);
      const issued = won ? ((await won.json()) as TokenPair) : undefined;
      // Reuse detection ended the login: the winner's new pair is as dead as the original.
      for (const refreshToken of [pair.refreshToken, issued?.refreshToken].filter(Boolean)) {
        await expectProblem(await h.json('POST', '/auth/refresh', { refreshToken }), 401);
      }
      for (const token of [pair.accessToken, issued?.accessToken].filter((t): t is string => !!t)) {
        await expectProblem(await h.json('GET', `/auth/user/${user.id}`, undefined, token), 401);
      }
      const [live] = await h.pool.query<RowDataPacket[]>(
        'SELECT COUNT(*) AS n FROM refresh_tokens WHERE family_id = (SELECT family_id FROM refresh_tokens WHERE id = ?) AND revoked_at IS NULL',
        [pair.refreshToken.split('.')[0]],
      );
      expect(Number(live[0]?.n)).toBe(0);
    }
  });

  test('a made-up or tampered refresh token is refused', async () => {
    const email = freshEmail();
    await expectJson<User>(await register({ email, password: PASSWORD, name: 'Tamper' }), 201);
    const pair = await login(email);
    const [id] = pair.refreshToken.split('.');
    const tampered = `${id}.${'A'.repeat(43)}`;
    for (const refreshToken of [tampered, 'rtk_nope.secret', 'no-dot-at-all']) {
      await expectProblem(await h.json('POST', '/auth/refresh', { refreshToken }), 401);
    }
    // A wrong guess does not spend or revoke the real token.
    await expectJson<TokenPair>(
      await h.json('POST', '/auth/refresh', { refreshToken: pair.refreshToken }),
      200,
    );
  });

  test('login with a wrong password or an unknown email answers 401', async () => {
    const email = freshEmail();
    await expectJson<User>(await register({ email, password: PASSWORD, name: 'Wrong' }), 201);
    await expectProblem(await h.json('POST', '/auth/login', { email, password: `${PASSWORD}!` }), 401);
    await expectProblem(
      await h.json('POST', '/auth/login', { email: `nobody_${h.prefix}@example.test`, password: PASSWORD }),
      401,
    );
  });
});

describe('access tokens', () => {
  let user: { id: string; email: string; token: string };

  beforeAll(async () => {
    user = await h.signUp('user');
  });

  const getSelf = (token: string) => h.json('GET', `/auth/user/${user.id}`, undefined, token);

  test('a valid token is accepted (the control for the refusals below)', async () => {
    await expectJson<User>(await getSelf(user.token), 200);
    await expectJson<User>(await getSelf(await signToken({ sub: user.id, role: 'user' })), 200);
  });

  test('no token, or a malformed Authorization header, answers 401', async () => {
    const res = await h.json('GET', `/auth/user/${user.id}`);
    await expectProblem(res, 401);
    expect(res.headers.get('www-authenticate') ?? '').toContain('Bearer');
    await expectProblem(
      await h.json('GET', `/auth/user/${user.id}`, undefined, undefined, { authorization: user.token }),
      401,
    );
    await expectProblem(
      await h.json('GET', `/auth/user/${user.id}`, undefined, undefined, {
        authorization: `Basic ${user.token}`,
      }),
      401,
    );
    await expectProblem(await getSelf('not-a-jwt'), 401);
  });

  test('an expired token answers 401', async () => {
    const past = nowSeconds() - 3600;
    const expired = await signToken({ sub: user.id, role: 'user', iat: past, exp: past + 60 });
    const body = await expectProblem(await getSelf(expired), 401);
    expect(body.detail.toLowerCase()).toContain('expired');
  });

  test('a token signed with another secret answers 401', async () => {
    const forged = await signToken(
      { sub: user.id, role: 'admin' },
      'another-secret-another-secret-another-0123',
    );
    await expectProblem(await getSelf(forged), 401);
    await expectProblem(
      await h.json(
        'POST',
        '/products',
        { sku: 'FORGED-1', name: 'x', priceCents: 1, currency: 'EUR', available: 1 },
        forged,
      ),
      401,
    );
  });

  test('a token whose payload was altered after signing answers 401', async () => {
    const [header, , signature] = user.token.split('.');
    const payload = b64url({
      sub: user.id,
      role: 'admin',
      iss: ISSUER,
      aud: AUDIENCE,
      iat: nowSeconds(),
      exp: nowSeconds() + 600,
    });
    await expectProblem(await getSelf(`${header}.${payload}.${signature}`), 401);
  });

  test('an `alg: none` token answers 401', async () => {
    const payload = b64url({
      sub: user.id,
      role: 'admin',
      iss: ISSUER,
      aud: AUDIENCE,
      iat: nowSeconds(),
      exp: nowSeconds() + 600,
    });
    for (const header of [{ alg: 'none' }, { alg: 'none', typ: 'JWT' }, { alg: 'None' }]) {
      const unsigned = `${b64url(header)}.${payload}.`;
      await expectProblem(await getSelf(unsigned), 401);
      await expectProblem(
        await h.json(
          'POST',
          '/products',
          { sku: 'NONE-1', name: 'x', priceCents: 1, currency: 'EUR', available: 1 },
          unsigned,
        ),
        401,
      );
    }
    const [count] = await h.pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM products');
    expect(Number(count[0]?.n)).toBe(0);
  });

  test('a token with the wrong issuer, audience or role claim answers 401', async () => {
    await expectProblem(
      await getSelf(await signToken({ sub: user.id, role: 'user', iss: 'someone-else' })),
      401,
    );
    await expectProblem(
      await getSelf(await signToken({ sub: user.id, role: 'user', aud: 'another-api' })),
      401,
    );
    await expectProblem(await getSelf(await signToken({ sub: user.id, role: 'superuser' })), 401);
  });

  test("a user's token on an admin route answers 403", async () => {
    await expectProblem(
      await h.json(
        'POST',
        '/products',
        { sku: 'USER-1', name: 'x', priceCents: 1, currency: 'EUR', available: 1 },
        user.token,
      ),
      403,
    );
    const [count] = await h.pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM products');
    expect(Number(count[0]?.n)).toBe(0);
  });
});

describe('GET /auth/user/{id}', () => {
  test("another user's account answers 403; an admin may read it", async () => {
    const alice = await h.signUp('user');
    const bob = await h.signUp('user');
    const admin = await h.signUp('admin');

    const refused = await h.json('GET', `/auth/user/${alice.id}`, undefined, bob.token);
    const body = await expectProblem(refused, 403);
    expect(JSON.stringify(body)).not.toContain(alice.email);

    const seen = await expectJson<User>(
      await h.json('GET', `/auth/user/${alice.id}`, undefined, admin.token),
      200,
    );
    expect(seen).toMatchObject({ id: alice.id, email: alice.email, role: 'user' });
  });

  test('an unknown user answers 404 to an admin', async () => {
    const admin = await h.signUp('admin');
    await expectProblem(await h.json('GET', '/auth/user/usr_doesnotexist', undefined, admin.token), 404);
  });
});

describe('registration is validated', () => {
  test('a duplicate email answers 409 problem+json (also in another case)', async () => {
    const email = freshEmail();
    await expectJson<User>(await register({ email, password: PASSWORD, name: 'First' }), 201);
    await expectProblem(await register({ email, password: PASSWORD, name: 'Second' }), 409);
    await expectProblem(
      await register({ email: email.toUpperCase(), password: PASSWORD, name: 'Third' }),
      409,
    );
    const [rows] = await h.pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM users WHERE email = ?', [
      email,
    ]);
    expect(Number(rows[0]?.n)).toBe(1);
  });

  test('a weak password answers 400 naming the password', async () => {
    for (const password of ['short', '123456789', '          x', '']) {
      await expectProblem(await register({ email: freshEmail(), password, name: 'Weak' }), 400, ['password']);
    }
  });

  test('missing fields answer 400 naming each of them', async () => {
    await expectProblem(await register({}), 400, ['email', 'password', 'name']);
    await expectProblem(await register({ email: freshEmail(), password: PASSWORD }), 400, ['name']);
    await expectProblem(await register({ password: PASSWORD, name: 'No email' }), 400, ['email']);
    await expectProblem(await h.json('POST', '/auth/login', { email: freshEmail() }), 400, ['password']);
  });

  test('a client cannot choose its own role', async () => {
    const email = freshEmail();
    await expectProblem(await register({ email, password: PASSWORD, name: 'Sneaky', role: 'admin' }), 400, [
      'role',
    ]);
    const [rows] = await h.pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM users WHERE email = ?', [
      email,
    ]);
    expect(Number(rows[0]?.n)).toBe(0);
  });
});

describe('the phone number', () => {
  test('is stored encrypted, returned to its owner and withheld from an admin', async () => {
    const phone = '+14155550123';
    const email = freshEmail();
    const created = await expectJson<User>(
      await register({ email, password: PASSWORD, name: 'Phone', phone }),
      201,
    );

    const [rows] = await h.pool.query<RowDataPacket[]>('SELECT phone_enc FROM users WHERE id = ?', [
      created.id,
    ]);
    const stored = rows[0]?.phone_enc as unknown;
    expect(typeof stored).toBe('string');
    const sealed = stored as string;
    expect(sealed.length).toBeGreaterThan(phone.length);
    expect(sealed).not.toContain('4155550123');
    expect(sealed).not.toContain('5550123');
    // Encryption is randomized: the same number stored twice does not look the same.
    const twin = await h.signUp('user', phone);
    const [twinRows] = await h.pool.query<RowDataPacket[]>('SELECT phone_enc FROM users WHERE id = ?', [
      twin.id,
    ]);
    expect(twinRows[0]?.phone_enc).not.toBe(sealed);

    const pair = await login(email);
    const own = await expectJson<User>(
      await h.json('GET', `/auth/user/${created.id}`, undefined, pair.accessToken),
      200,
    );
    expect(own.phone).toBe(phone);

    const admin = await h.signUp('admin');
    const res = await h.json('GET', `/auth/user/${created.id}`, undefined, admin.token);
    const text = await res.text();
    expect(res.status).toBe(200);
    const seen = JSON.parse(text) as User;
    expect(seen.id).toBe(created.id);
    expect(seen).not.toHaveProperty('phone');
    expect(text).not.toContain('5550123');
  });
});
