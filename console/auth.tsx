import type { Hono } from 'hono';
import { DomainError } from '../domain/errors';
import { verifyCredentials } from '../domain/users/users';
import type { ConsoleDeps, ConsoleEnv } from './deps';
import { BASE } from './layout';
import { SignInPage } from './pages/sign-in';
import type { ConsoleSessions } from './session';

/**
 * Sign-in with an admin's email and password: the same credentials check as `POST /auth/login`
 * and the same budgets (spent before the password is looked at); a non-admin is refused and gets
 * no session. Success starts a NEW session (whatever cookie came in is ended first).
 */
export function signInRoutes(app: Hono<ConsoleEnv>, deps: ConsoleDeps, sessions: ConsoleSessions): void {
  app.get('/sign-in', async (c) => {
    if (await sessions.current(c)) return c.redirect(`${BASE}/orders`, 303);
    return c.html(<SignInPage />);
  });

  app.post('/sign-in', async (c) => {
    const form = await c.req.parseBody();
    const email = typeof form.email === 'string' ? form.email.trim().slice(0, 254) : '';
    const password = typeof form.password === 'string' ? form.password.slice(0, 128) : '';
    if (!email || !password) {
      return c.html(<SignInPage error="Enter your email and password." email={email} />, 400);
    }
    const ip = deps.clientIp(c);
    const refused = await deps.signIn.admit(ip, email);
    if (refused) {
      c.header('retry-after', String(refused.retryAfterSeconds));
      return c.html(
        <SignInPage
          error={`Too many sign-in attempts; try again in ${refused.retryAfterSeconds} seconds.`}
          email={email}
        />,
        429,
      );
    }
    let user: Awaited<ReturnType<typeof verifyCredentials>>;
    try {
      user = await verifyCredentials(deps.db, email, password);
    } catch (err) {
      if (err instanceof DomainError && err.code === 'unauthorized') {
        return c.html(<SignInPage error="Email or password is wrong." email={email} />, 401);
      }
      throw err;
    }
    await deps.signIn.succeeded(ip, email);
    if (user.role !== 'admin') {
      return c.html(<SignInPage error="The console is for admins only." email={email} />, 403);
    }
    await sessions.start(c, user);
    return c.redirect(`${BASE}/orders`, 303);
  });
}

/** Ends the session server-side (registered behind the session and CSRF guards: a page elsewhere cannot sign an admin out). */
export function signOutRoute(app: Hono<ConsoleEnv>, sessions: ConsoleSessions): void {
  app.post('/sign-out', async (c) => {
    await sessions.end(c);
    return c.redirect(`${BASE}/sign-in`, 303);
  });
}
