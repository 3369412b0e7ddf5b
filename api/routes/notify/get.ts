import { createRoute, z } from '@hono/zod-openapi';
import { getNotification } from '../../../domain/notifications/notifications';
import { idParam, jsonResponse, problem } from '../../schemas';
import type { NotifyRouter } from './router';

const Notification = z
  .object({
    id: z.string(),
    channel: z.enum(['email', 'sms']),
    to: z.string(),
    status: z.enum(['queued', 'sent', 'failed']),
    attempts: z.number().int(),
  })
  .openapi('Notification');

export function getNotificationRoute({ app, deps }: NotifyRouter): void {
  app.openapi(
    createRoute({
      method: 'get',
      path: '/{id}',
      summary: "Get a message's delivery status",
      tags: ['notifications'],
      request: { params: idParam('id') },
      responses: {
        200: jsonResponse(Notification, 'The message and its delivery status'),
        401: problem('Not signed in'),
        403: problem('Not an admin'),
        404: problem('No such message'),
      },
    }),
    async (c) => c.json(await getNotification(deps.db, deps.config.piiKey, c.req.valid('param').id), 200),
  );
}
