import { createRoute, z } from '@hono/zod-openapi';
import { issueTokenPair } from '../../../domain/auth/tokens';
import { verifyCredentials } from '../../../domain/users/users';
import { jsonBody, jsonResponse, problem } from '../../schemas';
import type { AuthRouter } from './router';
import { bodyProblems, Email, hashingBusy, TokenPair } from './schemas';

const LoginBody = z
  .strictObject({ email: Email, password: z.string().min(1).max(128) })
  .openapi('LoginRequest');

export function loginRoute({ app, deps, tokens }: AuthRouter): void {
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
}
