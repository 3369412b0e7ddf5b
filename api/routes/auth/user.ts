import { createRoute } from '@hono/zod-openapi';
import { getUserForOwner } from '../../../domain/users/users';
import { assertSelfOrAdmin } from '../../middleware/auth';
import { idParam, jsonResponse, problem } from '../../schemas';
import type { AuthRouter } from './router';
import { User } from './schemas';

export function getUserRoute({ app, deps }: AuthRouter): void {
  app.openapi(
    createRoute({
      method: 'get',
      path: '/user/{id}',
      summary: 'Get a user',
      tags: ['auth'],
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
}
