import { createRoute, z } from '@hono/zod-openapi';
import { listEvents } from '../../../domain/orders/event-feed';
import { eventTypes } from '../../../domain/outbox/types';
import { newRouter } from '../../context';
import type { AppDeps } from '../../deps';
import { jsonResponse } from '../../schemas';

export const EventSchema = z
  .object({
    id: z.string(),
    type: z.enum(eventTypes),
    createdAt: z.string(),
    data: z
      .record(z.string(), z.unknown())
      .openapi({ description: 'The order (or the refund, with its orderId) as GET showed it then' }),
  })
  .openapi('Event');

const EventPage = z
  .object({
    data: z.array(EventSchema),
    nextCursor: z.string().openapi({ description: 'Always given: the `after` of the next read' }),
  })
  .openapi('EventPage');

const EventQuery = z.strictObject({
  after: z.string().max(100).optional(),
  types: z
    .string()
    .max(1000)
    .optional()
    .transform((v, ctx) => {
      if (v === undefined) return undefined;
      const list = [...new Set(v.split(',').map((t) => t.trim()))].filter(Boolean);
      const unknown = list.filter((t) => !(eventTypes as readonly string[]).includes(t));
      if (unknown.length) {
        ctx.addIssue({ code: 'custom', message: `unknown event type: ${unknown.join(', ')}` });
        return z.NEVER;
      }
      return list;
    })
    .openapi({ type: 'string', description: 'Comma-separated event types (all when absent)' }),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});

/**
 * The outbox as a feed: every event in commit order, for systems that catch up by polling. Who may
 * call it (an admin, or a key with `events:read`) is in api/access.ts.
 */
export function eventRoutes(deps: AppDeps) {
  const app = newRouter();

  app.openapi(
    createRoute({
      method: 'get',
      path: '/',
      summary: 'Page through events in commit order',
      tags: ['events'],
      request: { query: EventQuery },
      responses: {
        200: jsonResponse(EventPage, 'The events after the cursor, oldest first'),
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const page = await listEvents(deps.db, {
        limit: q.limit,
        ...(q.after ? { after: q.after } : {}),
        ...(q.types ? { types: q.types } : {}),
      });
      return c.json(page as z.infer<typeof EventPage>, 200);
    },
  );

  return app;
}
