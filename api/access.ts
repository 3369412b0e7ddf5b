import type { OpenAPIHono, RouteConfig } from '@hono/zod-openapi';
import type { ApiKeyScope } from '../domain/api-keys/scopes';
import type { AppEnv } from './context';
import { problem } from './schemas';

/**
 * Who may call a route with a person's access token (a JWT):
 * - `anyone`: no credential at all (or one of its own, named in `note`: Stripe's signature, METRICS_TOKEN);
 * - `user`: any signed-in person, user or admin;
 * - `owner`: any signed-in person, and the handler lets through only the resource's owner or an admin;
 * - `admin`: an admin only.
 * No route is for API keys alone: whatever a key may do, an admin may do too (API.md).
 */
export type People = 'anyone' | 'user' | 'owner' | 'admin';

export interface RouteAccess {
  people: People;
  /** The one scope that lets an API key call the route; without it a key is refused (403). */
  scope?: ApiKeyScope;
  /** Why no key may ever call it, when that is a rule of the shop rather than a missing scope. */
  noKey?: string;
  /** What the route checks itself beyond this (a credential of its own, a narrower owner rule). */
  note?: string;
}

const NO_PLACING = 'An API key cannot place or pay for orders: a customer does, signed in';

/**
 * THE one place that says who may call each route, by `METHOD /openapi/{path}`. The auth middleware
 * (api/middleware/authorize.ts) enforces it and the OpenAPI document is written from it (each
 * operation's `security` and `x-orderflow-access`); the app refuses to start when a documented route
 * has no entry here, so a new route cannot ship without saying who may call it. Entries for routes
 * not served yet are harmless (the refunds and webhook routes being added beside this).
 */
export const routeAccess: Record<string, RouteAccess> = {
  // Operations
  'GET /health/live': { people: 'anyone' },
  'GET /health/ready': { people: 'anyone' },
  'GET /metrics': { people: 'anyone', note: 'Bearer METRICS_TOKEN when one is configured' },
  'GET /system/workers': { people: 'admin' },

  // Auth: a person's own session; a key never acts as a person.
  'POST /auth/register': { people: 'anyone' },
  'POST /auth/login': { people: 'anyone' },
  'POST /auth/refresh': { people: 'anyone', note: 'the refresh token in the body' },
  'POST /auth/logout': { people: 'anyone', note: 'the refresh token in the body' },
  'POST /auth/logout-all': { people: 'user' },
  'GET /auth/user/{id}': { people: 'owner' },

  // API keys: only an admin makes, lists and deletes them (a key cannot mint keys).
  'POST /api-keys': { people: 'admin' },
  'GET /api-keys': { people: 'admin' },
  'DELETE /api-keys/{id}': { people: 'admin' },

  // Catalogue and inventory
  'GET /products': { people: 'anyone' },
  'GET /products/{id}': { people: 'anyone' },
  'POST /products': { people: 'admin', scope: 'catalog:write' },
  'GET /inventory/{productId}': { people: 'user', scope: 'catalog:write' },
  'PUT /inventory/{productId}/update': { people: 'admin', scope: 'catalog:write' },

  // Orders
  'POST /orders': { people: 'user', noKey: NO_PLACING },
  'GET /orders': { people: 'admin', scope: 'orders:read' },
  'GET /orders/{id}': { people: 'owner', scope: 'orders:read' },
  'GET /orders/user/{userId}': { people: 'owner', scope: 'orders:read' },
  'PUT /orders/{id}/cancel': { people: 'owner', scope: 'orders:write' },
  'POST /orders/{id}/review': { people: 'admin', scope: 'orders:write' },
  // A stream re-checks its access token at every heartbeat: people only (a system reads GET /events).
  'GET /orders/{id}/events': { people: 'owner' },
  'GET /ws': { people: 'anyone', note: 'an access token in the first message' },
  'POST /orders/{id}/refunds': { people: 'admin', scope: 'refunds:write' },
  'GET /orders/{id}/refunds': { people: 'owner', scope: 'orders:read' },

  // Payments
  'POST /payment': { people: 'user', noKey: NO_PLACING, note: "the order's owner only" },
  'GET /payment/status/{orderId}': { people: 'owner', scope: 'orders:read' },
  'POST /webhooks/stripe': { people: 'anyone', note: 'Stripe-Signature with STRIPE_WEBHOOK_SECRET' },

  // Notifications
  'POST /notify/email': { people: 'admin' },
  'POST /notify/sms': { people: 'admin' },
  'GET /notify/{id}': { people: 'admin' },

  // Events and webhooks
  'GET /events': { people: 'admin', scope: 'events:read' },
  'POST /webhook-endpoints': { people: 'admin', scope: 'webhooks:manage' },
  'GET /webhook-endpoints': { people: 'admin', scope: 'webhooks:manage' },
  'GET /webhook-endpoints/{id}': { people: 'admin', scope: 'webhooks:manage' },
  'PATCH /webhook-endpoints/{id}': { people: 'admin', scope: 'webhooks:manage' },
  'DELETE /webhook-endpoints/{id}': { people: 'admin', scope: 'webhooks:manage' },
  'GET /webhook-endpoints/{id}/deliveries': { people: 'admin', scope: 'webhooks:manage' },
  'POST /webhook-deliveries/{id}/retry': { people: 'admin', scope: 'webhooks:manage' },
};

/** `GET /orders/:id` (Hono's form) or `get /orders/{id}` (the document's) → the table's key. */
export function accessKey(method: string, path: string): string {
  const openapiPath = path.replace(/:([A-Za-z0-9_]+)(\{[^}]*\})?/g, '{$1}');
  const trimmed = openapiPath.length > 1 ? openapiPath.replace(/\/$/, '') : openapiPath;
  return `${method.toUpperCase()} ${trimmed}`;
}

export const needsCredential = (a: RouteAccess) => a.people !== 'anyone';

/** In words, for the document's reader (and the 403 a key gets on a route it may not call). */
export function describeAccess(a: RouteAccess): string {
  const people: Record<People, string> = {
    anyone: 'anyone',
    user: 'any signed-in user',
    owner: "the resource's owner, or an admin",
    admin: 'an admin',
  };
  const key = a.scope ? `an API key with \`${a.scope}\`` : 'no API key';
  const own = a.note ? ` (${a.note})` : '';
  return `Who may call it: ${people[a.people]}${own}; ${key}.`;
}

/**
 * Writes each documented operation's access into the OpenAPI document from the table: `security`
 * (the JWT bearer, and the `apiKey` scheme with the scope a key needs), `x-orderflow-access`, a
 * sentence in the description, and the 401/403 the middleware answers. Throws when an operation
 * has no entry. Call once every router is mounted.
 */
export function documentAccess(app: OpenAPIHono<AppEnv>): void {
  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description: "A person's access token from POST /auth/login",
  });
  app.openAPIRegistry.registerComponent('securitySchemes', 'apiKey', {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'of_ API key',
    description:
      "An API key from POST /api-keys, sent as `Authorization: Bearer of_…`; an operation lists the scope it needs as this scheme's role",
  });
  const missing: string[] = [];
  for (const def of app.openAPIRegistry.definitions) {
    if (def.type !== 'route') continue;
    const route: RouteConfig = def.route;
    const key = accessKey(route.method, route.path);
    const access = routeAccess[key];
    if (!access) {
      missing.push(key);
      continue;
    }
    const security: Record<string, string[]>[] = [];
    if (access.people !== 'anyone') security.push({ bearer: [] });
    if (access.scope) security.push({ apiKey: [access.scope] });
    const responses: RouteConfig['responses'] = {};
    if (needsCredential(access)) {
      responses[401] = problem('No credential, or one that is invalid, expired, revoked or deleted');
      responses[403] = problem(
        access.scope
          ? `Not allowed: the wrong role, or an API key without \`${access.scope}\``
          : 'Not allowed: the wrong role, or an API key (none may call this)',
      );
    }
    def.route = {
      ...route,
      security,
      description: [route.description, describeAccess(access)].filter(Boolean).join('\n\n'),
      'x-orderflow-access': access,
      responses: { ...responses, ...route.responses },
    } as RouteConfig;
  }
  if (missing.length > 0) {
    throw new Error(
      `These routes do not say who may call them (add them to api/access.ts): ${missing.join(', ')}`,
    );
  }
}
