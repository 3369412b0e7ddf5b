import { createRoute, z } from '@hono/zod-openapi';
import { jsonBody, jsonResponse } from '../../schemas';
import type { NotifyRouter } from './router';
import { adminResponses, Queued } from './schemas';

const SmsBody = z
  .strictObject({
    to: z.string().regex(/^\+[1-9][0-9]{6,14}$/, 'must be E.164, e.g. +14155550123'),
    text: z.string().min(1).max(1600),
  })
  .openapi('SmsRequest');

export function sendSmsRoute({ app, enqueue }: NotifyRouter): void {
  app.openapi(
    createRoute({
      method: 'post',
      path: '/sms',
      summary: 'Send an SMS',
      tags: ['notifications'],
      request: { body: jsonBody(SmsBody) },
      responses: { 202: jsonResponse(Queued, 'Queued for sending'), ...adminResponses },
    }),
    async (c) => c.json(await enqueue({ channel: 'sms', ...c.req.valid('json') }), 202),
  );
}
