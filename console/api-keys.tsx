import type { Hono } from 'hono';
import { createApiKey, deleteApiKey, listApiKeys } from '../domain/api-keys/keys';
import { RedisApiKeyRevocations } from '../domain/api-keys/revocations';
import { type ApiKeyScope, isApiKeyScope } from '../domain/api-keys/scopes';
import { apiKeyPepper } from '../domain/api-keys/secrets';
import { DomainError } from '../domain/errors';
import type { ConsoleDeps, ConsoleEnv } from './deps';
import { BASE } from './layout';
import { ApiKeysPage } from './pages/api-keys';
import type { ConsoleSessions } from './session';

/** What the form asked for, or why it cannot be made (the same limits as `POST /api-keys`). */
function readForm(form: Record<string, unknown>): { name: string; scopes: ApiKeyScope[] } | string[] {
  const name = typeof form.name === 'string' ? form.name.trim() : '';
  const given = form['scopes[]'] ?? form.scopes;
  const raw = (Array.isArray(given) ? given : given === undefined ? [] : [given]).map(String);
  const errors: string[] = [];
  if (!name) errors.push('Name: must not be empty.');
  if (name.length > 100) errors.push('Name: at most 100 characters.');
  if (raw.length === 0) errors.push('Scopes: choose at least one.');
  const unknown = raw.filter((s) => !isApiKeyScope(s));
  if (unknown.length) errors.push(`Scopes: unknown ${unknown.join(', ')}.`);
  return errors.length ? errors : { name, scopes: [...new Set(raw.filter(isApiKeyScope))] };
}

/** API keys: made (the key shown once, in the answer itself: never stored), listed, deleted; admins only. */
export function apiKeyRoutes(app: Hono<ConsoleEnv>, deps: ConsoleDeps, sessions: ConsoleSessions): void {
  const pepper = apiKeyPepper(deps.config.piiKey);
  const revocations = new RedisApiKeyRevocations(deps.redis, deps.config.QUEUE_PREFIX);

  app.get('/api-keys', async (c) => {
    const session = c.get('session');
    const [keys, flash] = await Promise.all([listApiKeys(deps.db), sessions.takeFlash(session)]);
    return c.html(<ApiKeysPage session={session} keys={keys} {...(flash ? { flash } : {})} />);
  });

  app.post('/api-keys', async (c) => {
    const session = c.get('session');
    const asked = readForm(await c.req.parseBody({ all: true }));
    if (Array.isArray(asked)) {
      return c.html(<ApiKeysPage session={session} keys={await listApiKeys(deps.db)} errors={asked} />, 400);
    }
    const actor = { type: 'admin' as const, id: session.userId };
    const created = await createApiKey(deps.db, pepper, asked, actor);
    deps.logger.info({ apiKeyId: created.id, scopes: created.scopes, actor }, 'API key created');
    return c.html(<ApiKeysPage session={session} keys={await listApiKeys(deps.db)} created={created} />, 201);
  });

  app.post('/api-keys/:id/delete', async (c) => {
    const session = c.get('session');
    const id = c.req.param('id');
    const actor = { type: 'admin' as const, id: session.userId };
    try {
      await deleteApiKey(deps.db, revocations, id, actor);
      deps.logger.info({ apiKeyId: id, actor }, 'API key deleted');
      await sessions.flash(session, { kind: 'ok', text: `Key ${id} deleted.` });
    } catch (err) {
      if (!(err instanceof DomainError && err.code === 'not_found')) throw err;
      await sessions.flash(session, { kind: 'error', text: 'No such key.' });
    }
    return c.redirect(`${BASE}/api-keys`, 303);
  });
}
