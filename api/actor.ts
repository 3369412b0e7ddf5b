import type { Actor } from '../domain/actor';
import type { Principal } from '../domain/auth/tokens';

/** Who is acting, from the credential the request was admitted with (handed to domain actions as data). */
export function actorOf(principal: Principal): Actor {
  if (principal.apiKeyId) return { type: 'api_key', id: principal.apiKeyId };
  return { type: principal.role === 'admin' ? 'admin' : 'user', id: principal.userId };
}
