import { queueNotification } from '../../../domain/notifications/notifications';
import { newRouter } from '../../context';
import type { AppDeps } from '../../deps';
import { sendEmailRoute } from './email';
import { getNotificationRoute } from './get';
import type { NotifyRouter } from './router';
import { sendSmsRoute } from './sms';

/** The `/notify` routes, one file each, registered in the order the OpenAPI document lists them. */
export function notifyRoutes(deps: AppDeps) {
  const app = newRouter();
  const enqueue = async (input: Parameters<typeof queueNotification>[2]) => {
    const view = await queueNotification(deps.db, deps.config.piiKey, input);
    try {
      await deps.queues.send(view.id);
    } catch (err) {
      // Recorded in MySQL: the reconciler sends it once Redis answers again.
      deps.logger.error(
        { err, notificationId: view.id },
        'could not queue the message; left to the reconciler',
      );
    }
    return { id: view.id, status: 'queued' as const };
  };
  const router: NotifyRouter = { app, deps, enqueue };
  sendEmailRoute(router);
  sendSmsRoute(router);
  getNotificationRoute(router);
  return app;
}
