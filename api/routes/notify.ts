import { createRoute, z } from '@hono/zod-openapi';
import { getNotification, queueNotification } from '../../domain/notifications/notifications';
import { newRouter } from '../context';
import { type AppDeps, tokenSettings } from '../deps';
import { requireAuth } from '../middleware/auth';
import { bearer, EmailSchema, idParam, jsonBody, jsonResponse, problem, trimmedText } from '../schemas';

const EmailBody = z
  .strictObject({
    to: EmailSchema,
    subject: trimmedText(200),
    text: z.string().min(1).max(10_000),
  })
  .openapi('EmailRequest');
const SmsBody = z
  .strictObject({
    to: z.string().regex(/^\+[1-9][0-9]{6,14}$/, 'must be E.164, e.g. +14155550123'),
    text: z.string().min(1).max(1600),
  })
  .openapi('SmsRequest');
const Queued = z.object({ id: z.string(), status: z.literal('queued') });
const Notification = z
  .object({
    id: z.string(),
    channel: z.enum(['email', 'sms']),
    to: z.string(),
    status: z.enum(['queued', 'sent', 'failed']),
    attempts: z.number().int(),
  })
  .openapi('Notification');

const adminResponses = {
  400: problem('Invalid body'),
  401: problem('Not signed in'),
  403: problem('Not an admin'),
};

export function notifyRoutes(deps: AppDeps) {
  const app = newRouter();
  const admin = requireAuth(tokenSettings(deps), 'admin');

  const enqueue = async (input: Parameters<typeof queueNotification>[2]) => {
    const view = await queueNotification(deps.db, deps.config.piiKey, input);
    try {
      await deps.queues.send(view.id);
    } catch (err) {
      // Recorded in MySQL: the reconciler sends it once Redis answers again.
      deps.logger.error(
        { err, notificationId: view.id },
        'could not queue the message; left to the reconciler',
      );
    }
    return { id: view.id, status: 'queued' as const };
  };

  app.openapi(
    createRoute({
      method: 'post',
      path: '/email',
      summary: 'Send an email',
      tags: ['notifications'],
      security: bearer,
      middleware: [admin] as const,
      request: { body: jsonBody(EmailBody) },
      responses: { 202: jsonResponse(Queued, 'Queued for sending'), ...adminResponses },
    }),
    async (c) => c.json(await enqueue({ channel: 'email', ...c.req.valid('json') }), 202),
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/sms',
      summary: 'Send an SMS',
      tags: ['notifications'],
      security: bearer,
      middleware: [admin] as const,
      request: { body: jsonBody(SmsBody) },
      responses: { 202: jsonResponse(Queued, 'Queued for sending'), ...adminResponses },
    }),
    async (c) => c.json(await enqueue({ channel: 'sms', ...c.req.valid('json') }), 202),
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/{id}',
      summary: "Get a message's delivery status",
      tags: ['notifications'],
      security: bearer,
      middleware: [admin] as const,
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

  return app;
}
