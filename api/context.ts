import { OpenAPIHono } from '@hono/zod-openapi';
import type { Principal } from '../domain/auth/tokens';
import { validationProblem } from './problem';

export type AppEnv = {
  Variables: {
    principal: Principal;
    requestId: string;
    /** The order a request created or acted on, for its log line (to follow one order end to end). */
    orderId?: string;
  };
};

const targets: Record<string, string> = { json: 'body', query: 'query', param: 'path', header: 'headers' };

/** Every resource router validates through zod and fails through the one problem path. */
export function newRouter(): OpenAPIHono<AppEnv> {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) throw validationProblem(result.error, targets[result.target] ?? result.target);
    },
  });
}
