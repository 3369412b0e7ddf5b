import { z } from '@hono/zod-openapi';

export const ProblemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    instance: z.string().optional(),
    errors: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
    traceId: z
      .string()
      .optional()
      .openapi({ description: 'The request’s OpenTelemetry trace id, when tracing is on' }),
  })
  .openapi('Problem');

export const problem = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: ProblemSchema } },
});

/** Ids are opaque strings; the bound keeps garbage out of queries and logs. */
export const IdSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9_-]+$/, 'not a valid id');

/**
 * An email as the app checks it. The document's `format: email` alone is looser than zod's rule (a
 * one-letter top-level domain, a `!` in the local part): the rule's own pattern goes with it.
 */
export const EmailSchema = z.email().max(254).openapi({ pattern: z.regexes.email.source });

/**
 * Text whose surrounding blanks are trimmed before its length is checked: 1–`max` characters after
 * trimming. `minLength` alone would let a name of spaces through the document; `pattern: \S` says
 * that at least one character must not be blank.
 */
export const trimmedText = (max: number) =>
  z
    .string()
    .trim()
    .min(1)
    .max(max)
    .openapi({ pattern: '\\S', description: `Surrounding blanks are trimmed; 1–${max} characters remain` });

export const idParam = <K extends string>(name: K) =>
  z.object({ [name]: IdSchema.openapi({ param: { name, in: 'path' } }) } as Record<K, typeof IdSchema>);

export const jsonBody = <T extends z.ZodType>(schema: T) => ({
  required: true,
  content: { 'application/json': { schema } },
});

export const jsonResponse = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});

export const PageQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().max(200).optional(),
});
