import type { OpenAPIHono } from '@hono/zod-openapi';
import type { queueNotification } from '../../../domain/notifications/notifications';
import type { AppEnv } from '../../context';
import type { AppDeps } from '../../deps';

/** What every `/notify` route file registers on: the router, the app's parts and the shared pieces. */
export interface NotifyRouter {
  app: OpenAPIHono<AppEnv>;
  deps: AppDeps;
  /** Records a message and queues its send (the reconciler sends it if the queue cannot be reached). */
  enqueue: (input: Parameters<typeof queueNotification>[2]) => Promise<{ id: string; status: 'queued' }>;
}
