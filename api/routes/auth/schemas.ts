import { z } from '@hono/zod-openapi';
import { EmailSchema, problem } from '../../schemas';

export const Email = EmailSchema;

// Length over composition rules (NIST SP 800-63B): at least 10 characters, not blank. The pattern
// says "at least 10 once the surrounding blanks are trimmed" in the document's words.
export const Password = z
  .string()
  .min(10, 'must be at least 10 characters')
  .max(128)
  .refine((p) => p.trim().length >= 10, 'must not be mostly blank')
  .openapi({ pattern: '^\\s*\\S[\\s\\S]{8,}\\S\\s*$' });

export const RefreshBody = z
  .strictObject({ refreshToken: z.string().min(1).max(200) })
  .openapi('RefreshRequest');

export const User = z
  .object({
    id: z.string(),
    email: z.string(),
    name: z.string(),
    role: z.enum(['user', 'admin']),
    phone: z.string().optional(),
  })
  .openapi('User');

export const TokenPair = z
  .object({
    accessToken: z.string(),
    refreshToken: z.string(),
    tokenType: z.literal('Bearer'),
    expiresIn: z.number(),
  })
  .openapi('TokenPair');

/** What any JSON-body route here may also answer, before or beside its handler. */
export const bodyProblems = {
  400: problem('Invalid fields'),
  413: problem('Body too large'),
  415: problem('Body is not application/json'),
  429: problem('Rate limited (Retry-After says when to retry)'),
};

/** Argon2 hashing is capped per process; past its queue the route answers 503 rather than wait. */
export const hashingBusy = {
  503: problem('Password hashing is saturated, or MySQL/Redis is unavailable; retry'),
};
