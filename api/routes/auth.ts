import { createRoute, z } from '@hono/zod-openapi';
import { endAllSessions, endSession, issueTokenPair, rotateRefreshToken } from '../../domain/auth/tokens';
import { getUserForOwner, registerUser, verifyCredentials } from '../../domain/users/users';
import { newRouter } from '../context';
import { type AppDeps, tokenSettings } from '../deps';
import { assertSelfOrAdmin, requireAuth } from '../middleware/auth';
import { bearer, EmailSchema, idParam, jsonBody, jsonResponse, problem, trimmedText } from '../schemas';

const Email = EmailSchema;
// Length over composition rules (NIST SP 800-63B): at least 10 characters, not blank. The pattern
// says "at least 10 once the surrounding blanks are trimmed" in the document's words.
const Password = z
  .string()
  .min(10, 'must be at least 10 characters')
  .max(128)
  .refine((p) => p.trim().length >= 10, 'must not be mostly blank')
  .openapi({ pattern: '^\\s*\\S[\\s\\S]{8,}\\S\\s*$' });
const Phone = z.string().regex(/^\+[1-9][0-9]{6,14}$/, 'must be E.164, e.g. +14155550123');

const RegisterBody = z
  .strictObject({
    email: Email,
    password: Password,
    name: trimmedText(100),
    phone: Phone.optional(),
  })
  .openapi('RegisterRequest');
const LoginBody = z
  .strictObject({ email: Email, password: z.string().min(1).max(128) })
  .openapi('LoginRequest');
const RefreshBody = z.strictObject({ refreshToken: z.string().min(1).max(200) }).openapi('RefreshRequest');

const User = z
  .object({
    id: z.string(),
    email: z.string(),
    name: z.string(),
    role: z.enum(['user', 'admin']),
    phone: z.string().optional(),
  })
  .openapi('User');
const TokenPair = z
  .object({
    accessToken: z.string(),
    refreshToken: z.string(),
    tokenType: z.literal('Bearer'),
    expiresIn: z.number(),
  })
  .openapi('TokenPair');

/** What any JSON-body route here may also answer, before or beside its handler. */
const bodyProblems = {
  400: problem('Invalid fields'),
  413: problem('Body too large'),
  415: problem('Body is not application/json'),
  429: problem('Rate limited (Retry-After says when to retry)'),
};
/** Ending a login writes to MySQL and Redis; when either fails, it may be ended only in part: retry. */
const endingUnavailable = {
  503: problem('MySQL or Redis is unavailable; the login may be ended only in part: retry'),
};
/** Argon2 hashing is capped per process; past its queue the route answers 503 rather than wait. */
const hashingBusy = { 503: problem('Password hashing is saturated, or MySQL/Redis is unavailable; retry') };

export function authRoutes(deps: AppDeps) {
  const app = newRouter();
  const tokens = tokenSettings(deps);

  app.openapi(
    createRoute({
      method: 'post',
      path: '/register',
      summary: 'Register a user account',
      tags: ['auth'],
      request: { body: jsonBody(RegisterBody) },
      responses: {
        201: jsonResponse(User, 'The new user'),
        ...bodyProblems,
        409: problem('The email is taken'),
        ...hashingBusy,
      },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const user = await registerUser(deps.db, deps.config.piiKey, body);
      return c.json(user, 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/login',
      summary: 'Sign in with email and password',
      tags: ['auth'],
      request: { body: jsonBody(LoginBody) },
      responses: {
        200: jsonResponse(TokenPair, 'A token pair'),
        ...bodyProblems,
        401: problem('Bad credentials'),
        429: problem('Too many sign-in attempts for this account or from this address (Retry-After)'),
        ...hashingBusy,
      },
    }),
    async (c) => {
      const { email, password } = c.req.valid('json');
      const user = await verifyCredentials(deps.db, email, password);
      return c.json(await issueTokenPair(deps.db, tokens, { userId: user.id, role: user.role }), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/refresh',
      summary: 'Exchange a refresh token for a new token pair',
      tags: ['auth'],
      request: { body: jsonBody(RefreshBody) },
      responses: {
        200: jsonResponse(TokenPair, 'A new pair'),
        ...bodyProblems,
        401: problem('Invalid, expired or spent token'),
      },
    }),
    async (c) => c.json(await rotateRefreshToken(deps.db, tokens, c.req.valid('json').refreshToken), 200),
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/logout',
      tags: ['auth'],
      summary: 'End one login',
      description:
        'Ends the login the refresh token belongs to: its refresh tokens and its access tokens stop working. A token that is unknown, or whose secret does not match, ends nothing and gets the same 204.',
      request: { body: jsonBody(RefreshBody) },
      responses: { 204: { description: 'That login is over' }, ...bodyProblems, ...endingUnavailable },
    }),
    async (c) => {
      await endSession(deps.db, tokens, c.req.valid('json').refreshToken);
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/logout-all',
      tags: ['auth'],
      summary: 'End every login of the signed-in user',
      description:
        'Every refresh and access token of every login of this user stops working, this one included.',
      security: bearer,
      middleware: [requireAuth(tokens)] as const,
      responses: {
        204: { description: 'Every login of this user is over' },
        401: problem('Not signed in'),
        413: problem('Body too large'),
        415: problem('Body is not application/json'),
        429: problem('Rate limited (Retry-After says when to retry)'),
        ...endingUnavailable,
      },
    }),
    async (c) => {
      await endAllSessions(deps.db, tokens, c.get('principal').userId);
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/user/{id}',
      summary: 'Get a user',
      tags: ['auth'],
      security: bearer,
      middleware: [requireAuth(tokens)] as const,
      request: { params: idParam('id') },
      responses: {
        200: jsonResponse(User, 'The user (with the phone number only for its owner)'),
        401: problem('Not signed in'),
        403: problem('Someone else'),
        404: problem('No such user'),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const principal = c.get('principal');
      assertSelfOrAdmin(principal, id);
      const user = await getUserForOwner(deps.db, deps.config.piiKey, id);
      // Personal data goes to its owner only, not to an admin browsing accounts.
      if (principal.userId !== id) delete user.phone;
      return c.json(user, 200);
    },
  );

  return app;
}
