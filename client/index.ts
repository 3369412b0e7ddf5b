/**
 * A typed client for the Orderflow API: `openapi-fetch` over the types `openapi-typescript` generates
 * from the app's own OpenAPI document (`client/openapi.ts`, `bun run client:generate`). Paths, path
 * parameters, bodies and answers are checked by the compiler; an answer outside 2xx comes back as
 * `error` (a problem+json body), never as a throw.
 *
 *   const api = createOrderflowClient('http://localhost:3000');
 *   const { data } = await api.POST('/auth/login', { body: { email, password } });
 *   api.setToken(data?.accessToken);
 */
import createClient, { type Client, type Middleware } from 'openapi-fetch';
import type { components, paths } from './openapi.js';

export type { components, operations, paths } from './openapi.js';
export type Schemas = components['schemas'];

export interface OrderflowClientOptions {
  /** The access token sent as `Authorization: Bearer …`; change it later with `setToken`. */
  token?: string;
  /** Another fetch (a test's, a proxy-aware one); the global one by default. */
  fetch?: (input: Request) => Promise<Response>;
  /** Headers sent with every request. */
  headers?: Record<string, string>;
}

export interface OrderflowClient extends Client<paths> {
  /** Sets (or with `undefined` clears) the Bearer token of the requests that follow. */
  setToken(token: string | undefined): void;
}

export function createOrderflowClient(
  baseUrl: string,
  options: OrderflowClientOptions = {},
): OrderflowClient {
  let token = options.token;
  const client = createClient<paths>({
    baseUrl: baseUrl.replace(/\/+$/, ''),
    ...(options.fetch ? { fetch: options.fetch } : {}),
    ...(options.headers ? { headers: options.headers } : {}),
  });
  const auth: Middleware = {
    onRequest({ request }) {
      if (token && !request.headers.has('authorization')) {
        request.headers.set('authorization', `Bearer ${token}`);
      }
      return request;
    },
  };
  client.use(auth);
  return Object.assign(client, {
    setToken(next: string | undefined) {
      token = next;
    },
  });
}
