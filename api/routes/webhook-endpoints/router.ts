import type { Guard } from '../../../domain/webhooks/addresses';
import type { newRouter } from '../../context';
import type { AppDeps } from '../../deps';
import { problem } from '../../schemas';

/** What each `/webhook-endpoints` route file registers itself with. */
export interface WebhookRouter {
  app: ReturnType<typeof newRouter>;
  deps: AppDeps;
  /** The SSRF guard as configured (WEBHOOK_ALLOW_PRIVATE), used when a URL is saved. */
  guard: Guard;
}

export const tags = ['webhooks'];
export const notFound = problem('No such webhook endpoint');
export const refused = problem(
  'A URL the guard refuses (not https://, or not a public address), or an unknown event type',
);
