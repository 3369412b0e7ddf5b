import { z } from '@hono/zod-openapi';
import { problem } from '../../schemas';

export const Queued = z.object({ id: z.string(), status: z.literal('queued') });

export const adminResponses = {
  400: problem('Invalid body'),
  401: problem('Not signed in'),
  403: problem('Not an admin'),
};
