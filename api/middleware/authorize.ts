import type { Context, MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import { RedisApiKeyRevocations } from '../../domain/api-keys/revocations';
import { apiKeyPepper, looksLikeApiKey } from '../../domain/api-keys/secrets';
import { ApiKeyVerifier } from '../../domain/api-keys/verify';
import { type Principal, verifyAccessToken } from '../../domain/auth/tokens';
import { DomainError } from '../../domain/errors';
import { accessKey, type RouteAccess, routeAccess } from '../access';
import type { AppEnv } from '../context';
import { type AppDeps, tokenSettings } from '../deps';
import { ProblemError } from '../problem';
import { bearerToken } from './auth';
import { consumeAll, rateLimitHeaders, redisLimiter, tooMany } from './limits';
import { limiterWarning } from './rate-limit';

const challenge = { 'www-authenticate': 'Bearer realm="orderflow"' };

/** The deleted-keys port every API process shares (one Redis key per deleted key, under the prefix). */
export const apiKeyRevocations = ({ config, redis }: Pick<AppDeps, 'config' | 'redis'>) =>
  new RedisApiKeyRevocations(redis, config.QUEUE_PREFIX);

export const apiKeyVerifier = (deps: Pick<AppDeps, 'config' | 'redis' | 'db' | 'logger'>) =>
  new ApiKeyVerifier({
    db: deps.db,
    pepper: apiKeyPepper(deps.config.piiKey),
    revocations: apiKeyRevocations(deps),
    onFlushError: (err) =>
      deps.logger.warn({ err }, 'could not record API keys lastUsedAt; next flush retries'),
  });

/**
 * The access entry of the route this request matched. Undefined for an unknown path (404) and for the
 * routes served outside the document (the document itself, /docs, the board), which guard themselves;
 * every documented route has an entry (documentAccess refuses to start otherwise).
 */
export function matchedAccess(c: Context<AppEnv>): { key: string; access: RouteAccess } | undefined {
  const route = matchedRoutes(c).find((r) => r.method !== 'ALL');
  if (!route) return undefined;
  // The route's own method: a HEAD request is served by the GET route it matched.
  const key = accessKey(route.method, route.path);
  const access = routeAccess[key];
  return access ? { key, access } : undefined;
}

/**
 * Enforces api/access.ts for every request, before any route's own middleware: no credential on a
 * route that needs one is 401; a person's access token is verified (revocation included) and its role
 * checked; an API key (`of_…`) is verified, must hold the scope the route names (403 naming it, or
 * naming why no key may call the route) and spends its own rate limit. The principal it sets is what
 * the routes read; ownership ("its owner, or an admin") stays with the handler that loads the resource.
 */
export function authorize(deps: AppDeps, keys = apiKeyVerifier(deps)): MiddlewareHandler<AppEnv> {
  const tokens = tokenSettings(deps);
  const { config } = deps;
  const keyLimiter = config.RATE_LIMITS
    ? redisLimiter(config, deps.redis, 'key', config.RATE_LIMIT_PER_MINUTE)
    : undefined;
  const warn = limiterWarning(deps.logger, 'API key rate limiter');

  return async (c, next) => {
    const matched = matchedAccess(c);
    if (!matched || matched.access.people === 'anyone') return next();
    const { key: route, access } = matched;
    const token = bearerToken(c.req.header('authorization'));
    if (!token)
      throw new ProblemError(401, 'A Bearer access token or API key is required', undefined, challenge);

    if (!looksLikeApiKey(token)) {
      const principal = await person(tokens, token);
      if (access.people === 'admin' && principal.role !== 'admin') {
        throw new ProblemError(403, 'This action needs the role: admin');
      }
      c.set('principal', principal);
      return next();
    }

    let verified: Awaited<ReturnType<ApiKeyVerifier['verify']>>;
    try {
      verified = await keys.verify(token);
    } catch (err) {
      if (err instanceof DomainError) throw new ProblemError(401, err.message, undefined, challenge);
      throw err;
    }
    if (!access.scope) {
      throw new ProblemError(
        403,
        access.noKey ?? `An API key cannot call ${route}: it needs a signed-in person`,
      );
    }
    if (!verified.scopes.includes(access.scope)) {
      throw new ProblemError(403, `This API key lacks the scope ${access.scope}, which ${route} needs`);
    }
    const limited = keyLimiter
      ? await consumeAll([{ scope: 'key', limiter: keyLimiter, key: verified.id }], warn)
      : undefined;
    const refusal = limited && tooMany(limited.refused);
    if (refusal) {
      deps.metrics?.rateLimited('key');
      throw refusal;
    }
    c.set('principal', { userId: verified.id, role: 'user', apiKeyId: verified.id });
    await next();
    const verdict = limited?.passed[0];
    if (verdict) for (const [name, value] of Object.entries(rateLimitHeaders(verdict))) c.header(name, value);
  };
}

async function person(tokens: ReturnType<typeof tokenSettings>, token: string): Promise<Principal> {
  try {
    return await verifyAccessToken(tokens, token);
  } catch (err) {
    throw new ProblemError(401, (err as Error).message, undefined, challenge);
  }
}
