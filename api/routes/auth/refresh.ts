import { createRoute } from '@hono/zod-openapi';
import { rotateRefreshToken } from '../../../domain/auth/tokens';
import { jsonBody, jsonResponse, problem } from '../../schemas';
import type { AuthRouter } from './router';
import { bodyProblems, RefreshBody, TokenPair } from './schemas';

export function refreshRoute({ app, deps, tokens }: AuthRouter): void {
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
}
