import { createRoute, z } from '@hono/zod-openapi';
import { EmailSchema, jsonBody, jsonResponse, trimmedText } from '../../schemas';
import type { NotifyRouter } from './router';
import { adminResponses, Queued } from './schemas';

const EmailBody = z
  .strictObject({
    to: EmailSchema,
    subject: trimmedText(200),
    text: z.string().min(1).max(10_000),
  })
  .openapi('EmailRequest');

export function sendEmailRoute({ app, enqueue }: NotifyRouter): void {
  app.openapi(
    createRoute({
      method: 'post',
      path: '/email',
      summary: 'Send an email',
      tags: ['notifications'],
      request: { body: jsonBody(EmailBody) },
      responses: { 202: jsonResponse(Queued, 'Queued for sending'), ...adminResponses },
    }),
    async (c) => c.json(await enqueue({ channel: 'email', ...c.req.valid('json') }), 202),
  );
}
