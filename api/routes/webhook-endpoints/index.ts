import { createRoute } from '@hono/zod-openapi';
import { systemResolve } from '../../../domain/webhooks/addresses';
import { listDeliveries } from '../../../domain/webhooks/deliveries';
import {
  createEndpoint,
  deleteEndpoint,
  endpointView,
  getEndpointRow,
  listEndpoints,
  updateEndpoint,
} from '../../../domain/webhooks/endpoints';
import { newRouter } from '../../context';
import type { AppDeps } from '../../deps';
import { idParam, jsonBody, jsonResponse, problem } from '../../schemas';
import {
  CreatedEndpoint,
  DeliveryPage,
  DeliveryQuery,
  Endpoint,
  EndpointList,
  EndpointPatch,
  NewEndpoint,
} from './schemas';

const tags = ['webhooks'];
const notFound = problem('No such webhook endpoint');
const refused = problem(
  'A URL the guard refuses (not https://, or not a public address), or an unknown event type',
);

/**
 * `/webhook-endpoints`: where events are sent, which ones, and the log of what was sent. Who may call
 * them (an admin, or a key with `webhooks:manage`) is in api/access.ts.
 */
export function webhookEndpointRoutes(deps: AppDeps) {
  const app = newRouter();
  const guard = { allowPrivate: deps.config.WEBHOOK_ALLOW_PRIVATE, resolve: systemResolve };

  app.openapi(
    createRoute({
      method: 'post',
      path: '/',
      summary: 'Register a webhook endpoint',
      tags,
      request: { body: jsonBody(NewEndpoint) },
      responses: {
        201: jsonResponse(CreatedEndpoint, 'The endpoint, with its signing secret shown this once'),
        422: refused,
      },
    }),
    async (c) => c.json(await createEndpoint(deps.db, deps.config.piiKey, c.req.valid('json'), guard), 201),
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/',
      summary: 'List webhook endpoints',
      tags,
      responses: { 200: jsonResponse(EndpointList, 'Every endpoint, newest first, without secrets') },
    }),
    async (c) => c.json({ data: await listEndpoints(deps.db) }, 200),
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/{id}',
      summary: 'Get a webhook endpoint',
      tags,
      request: { params: idParam('id') },
      responses: { 200: jsonResponse(Endpoint, 'The endpoint, without its secret'), 404: notFound },
    }),
    async (c) => c.json(endpointView(await getEndpointRow(deps.db, c.req.valid('param').id)), 200),
  );

  app.openapi(
    createRoute({
      method: 'patch',
      path: '/{id}',
      summary: 'Change a webhook endpoint',
      tags,
      request: { params: idParam('id'), body: jsonBody(EndpointPatch) },
      responses: { 200: jsonResponse(Endpoint, 'The endpoint as changed'), 404: notFound, 422: refused },
    }),
    async (c) =>
      c.json(await updateEndpoint(deps.db, c.req.valid('param').id, c.req.valid('json'), guard), 200),
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/{id}',
      summary: 'Delete a webhook endpoint',
      tags,
      request: { params: idParam('id') },
      responses: { 204: { description: 'Deleted: nothing more is sent to it' }, 404: notFound },
    }),
    async (c) => {
      await deleteEndpoint(deps.db, c.req.valid('param').id);
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/{id}/deliveries',
      summary: "An endpoint's deliveries, newest first",
      tags,
      request: { params: idParam('id'), query: DeliveryQuery },
      responses: { 200: jsonResponse(DeliveryPage, 'A page of deliveries'), 404: notFound },
    }),
    async (c) => c.json(await listDeliveries(deps.db, c.req.valid('param').id, c.req.valid('query')), 200),
  );

  return app;
}
