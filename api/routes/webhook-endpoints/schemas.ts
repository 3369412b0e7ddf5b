import { z } from '@hono/zod-openapi';
import { PageQuery } from '../../schemas';

// Event types are checked by the domain (422 naming the unknown one), not by the shape (400).
const Events = z
  .array(z.string().min(1).max(64))
  .min(1, 'name at least one event type, or "*"')
  .max(50)
  .openapi({ description: 'Event types (API.md, "Events and webhooks"), or ["*"] for all' });

export const NewEndpoint = z
  .strictObject({
    url: z.string().min(1).max(2048),
    events: Events,
    description: z.string().max(255).optional(),
  })
  .openapi('NewWebhookEndpoint');

export const EndpointPatch = z
  .strictObject({
    url: z.string().min(1).max(2048).optional(),
    events: Events.optional(),
    status: z.enum(['enabled', 'disabled']).optional(),
  })
  .openapi('WebhookEndpointPatch');

export const Endpoint = z
  .object({
    id: z.string(),
    url: z.string(),
    events: z.array(z.string()),
    description: z.string().optional(),
    status: z.enum(['enabled', 'disabled']),
    disabledReason: z.string().optional(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi('WebhookEndpoint');

export const CreatedEndpoint = Endpoint.extend({
  secret: z.string().openapi({ description: 'The signing secret (whsec_…), shown this once' }),
}).openapi('CreatedWebhookEndpoint');

export const EndpointList = z.object({ data: z.array(Endpoint) }).openapi('WebhookEndpointList');

export const Delivery = z
  .object({
    id: z.string(),
    eventId: z.string(),
    type: z.string(),
    status: z.enum(['pending', 'succeeded', 'failed']),
    attempts: z.number().int(),
    lastStatusCode: z.number().int().optional(),
    lastError: z.string().optional(),
    nextAttemptAt: z.string().optional(),
    createdAt: z.string(),
  })
  .openapi('WebhookDelivery');

export const DeliveryPage = z
  .object({ data: z.array(Delivery), nextCursor: z.string().nullable() })
  .openapi('WebhookDeliveryPage');

export const DeliveryQuery = PageQuery.extend({
  status: z.enum(['pending', 'succeeded', 'failed']).optional(),
});
