import { createRoute, z } from '@hono/zod-openapi';
import { issueTokenPair, rotateRefreshToken } from '../../domain/auth/tokens';
import { getUserForOwner, registerUser, verifyCredentials } from '../../domain/users/users';
import { newRouter } from '../context';
import { type AppDeps, tokenSettings } from '../deps';
import { assertSelfOrAdmin, requireAuth } from '../middleware/auth';
import { bearer, idParam, jsonBody, jsonResponse, problem } from '../schemas';

const Email = z.email().max(254);
// Length over composition rules (NIST SP 800-63B): at least 10 characters, not blank.
const Password = z
  .string()
  .min(10, 'must be at least 10 characters')
  .max(128)
  .refine((p) => p.trim().length >= 10, 'must not be mostly blank');
const Phone = z.string().regex(/^\+[1-9][0-9]{6,14}$/, 'must be E.164, e.g. +14155550123');

const RegisterBody = z
  .strictObject({
    email: Email,
    password: Password,
    name: z.string().trim().min(1).max(100),
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
        400: problem('Invalid fields'),
        409: problem('The email is taken'),
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
      responses: { 200: jsonResponse(TokenPair, 'A token pair'), 401: problem('Bad credentials') },
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
        401: problem('Invalid, expired or spent token'),
      },
    }),
    async (c) => c.json(await rotateRefreshToken(deps.db, tokens, c.req.valid('json').refreshToken), 200),
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
