import { createRoute } from '@hono/zod-openapi';
import { endAllSessions, endSession } from '../../../domain/auth/tokens';
import { jsonBody, problem } from '../../schemas';
import type { AuthRouter } from './router';
import { bodyProblems, RefreshBody } from './schemas';

/** Ending a login writes to MySQL and Redis; when either fails, it may be ended only in part: retry. */
const endingUnavailable = {
  503: problem('MySQL or Redis is unavailable; the login may be ended only in part: retry'),
};

export function logoutRoutes({ app, deps, tokens }: AuthRouter): void {
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
}
