/**
 * What an API key may be allowed to do. Each route names at most one scope that admits a key
 * (api/access.ts); a key holding it may call that route, and no other scope stands in for it.
 */
export const apiKeyScopes = [
  'orders:read',
  'orders:write',
  'catalog:write',
  'refunds:write',
  'events:read',
  'webhooks:manage',
] as const;

export type ApiKeyScope = (typeof apiKeyScopes)[number];

export const isApiKeyScope = (s: string): s is ApiKeyScope => (apiKeyScopes as readonly string[]).includes(s);
