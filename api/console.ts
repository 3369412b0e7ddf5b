import type { ConsoleDeps } from '../console/deps';
import type { AppDeps } from './deps';
import type { LiveTracking } from './live/tracking';
import { clientIp, limiterWarning } from './middleware/rate-limit';
import { SignInLimits } from './middleware/sign-in-limit';

/**
 * What the API hands the operators' console (which imports nothing of the API): the sign-in budgets
 * `POST /auth/login` spends, the feed of every order change from this process's live hub, a slot
 * under the live connection caps for each console stream (ended at shutdown with the others), and
 * the client's address as the rate limits read it.
 */
export function consoleDeps(deps: AppDeps, live: LiveTracking): ConsoleDeps {
  const limits = deps.config.RATE_LIMITS ? new SignInLimits(deps.config, deps.redis) : undefined;
  const warn = limiterWarning(deps.logger, 'console sign-in limiter');
  return {
    ...deps,
    signIn: {
      async admit(ip, email) {
        const refusal = limits ? (await limits.admit(ip, email, warn)).refusal : undefined;
        if (!refusal) return undefined;
        return { retryAfterSeconds: Number(refusal.headers['retry-after'] ?? 60) };
      },
      async succeeded(ip, email) {
        await limits?.succeeded(ip, email).catch((err: unknown) => warn(err, 'login'));
      },
    },
    changes: (listener) => live.hub.followAll(listener),
    openStream(userId, end) {
      const slot = live.slots.acquire(userId);
      if ('refused' in slot) {
        live.refused('sse', slot.refused);
        return undefined;
      }
      const untrack = live.track(end);
      return {
        close: () => {
          untrack();
          slot.release();
        },
      };
    },
    clientIp: (c) => clientIp(c, deps.config.TRUST_PROXY),
  };
}
