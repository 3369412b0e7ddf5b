import { z } from '@hono/zod-openapi';
import { apiKeyScopes } from '../../../domain/api-keys/scopes';

export const Scope = z.enum(apiKeyScopes).openapi('ApiKeyScope');

export const NewApiKey = z
  .strictObject({
    name: z.string().trim().min(1, 'must not be empty').max(100),
    scopes: z
      .array(Scope)
      .min(1, 'must name at least one scope')
      .max(apiKeyScopes.length)
      .refine((s) => new Set(s).size === s.length, 'a scope may appear once'),
  })
  .openapi('NewApiKey');

export const ApiKey = z
  .object({
    id: z.string(),
    name: z.string(),
    scopes: z.array(Scope),
    createdAt: z.string(),
    lastUsedAt: z
      .string()
      .optional()
      .openapi({ description: 'Approximate: recorded at most every 30 s per API process' }),
  })
  .openapi('ApiKey');

export const CreatedApiKey = ApiKey.omit({ lastUsedAt: true })
  .extend({
    key: z
      .string()
      .openapi({ description: 'The key itself (`of_…`): shown this once, stored only as a hash' }),
  })
  .openapi('CreatedApiKey');

export const ApiKeyList = z.object({ data: z.array(ApiKey) }).openapi('ApiKeyList');
