import { and, desc, eq, isNull } from 'drizzle-orm';
import type { Db } from '../../db/client';
import { apiKeys } from '../../db/schema';
import { newId } from '../../lib/ids';
import { type Actor, actorColumns } from '../actor';
import { notFound } from '../errors';
import { type ApiKeyScope, isApiKeyScope } from './scopes';
import { hashApiKeySecret, newApiKey } from './secrets';

export interface ApiKeyView {
  id: string;
  name: string;
  scopes: ApiKeyScope[];
  createdAt: string;
  lastUsedAt?: string;
}

/** A port: deleted keys, remembered where every API process asks on every request. */
export interface ApiKeyRevocations {
  revoke(keyId: string): Promise<void>;
  isRevoked(keyId: string): Promise<boolean>;
}

export const scopesOf = (stored: string): ApiKeyScope[] => stored.split(',').filter(isApiKeyScope);

function view(row: typeof apiKeys.$inferSelect): ApiKeyView {
  return {
    id: row.id,
    name: row.name,
    scopes: scopesOf(row.scopes),
    createdAt: row.createdAt.toISOString(),
    ...(row.lastUsedAt ? { lastUsedAt: row.lastUsedAt.toISOString() } : {}),
  };
}

/** A new key: its row (the secret's keyed hash, who made it) and the key itself, shown this once. */
export async function createApiKey(
  db: Db,
  pepper: Uint8Array,
  input: { name: string; scopes: readonly ApiKeyScope[] },
  actor: Actor,
): Promise<ApiKeyView & { key: string }> {
  const id = newId('key');
  const { key, secret } = newApiKey(id);
  const createdAt = new Date();
  const scopes = [...new Set(input.scopes)];
  const created = actorColumns(actor);
  await db.insert(apiKeys).values({
    id,
    name: input.name,
    scopes: scopes.join(','),
    secretHash: hashApiKeySecret(pepper, secret),
    createdByType: created.actorType,
    createdBy: created.actorId,
    createdAt,
  });
  return { id, name: input.name, scopes, createdAt: createdAt.toISOString(), key };
}

/** The live keys, newest first; never a secret or its hash. */
export async function listApiKeys(db: Db): Promise<ApiKeyView[]> {
  const rows = await db
    .select()
    .from(apiKeys)
    .where(isNull(apiKeys.deletedAt))
    .orderBy(desc(apiKeys.createdAt), desc(apiKeys.id));
  return rows.map(view);
}

/**
 * Deletes a key: the row is marked (it stays, so timelines naming it resolve), then every API process
 * is told through the revocation port, which each asks on every request. Marked first: a process that
 * has not cached the key reads the row; one that has, hears of it through the port. A port that
 * cannot be told fails the call (503); the retry finds the row deleted already and tells the port
 * again, so deleting is idempotent and always ends with every process told.
 */
export async function deleteApiKey(
  db: Db,
  revocations: ApiKeyRevocations,
  id: string,
  actor: Actor,
): Promise<void> {
  const [row] = await db
    .select({ deletedAt: apiKeys.deletedAt })
    .from(apiKeys)
    .where(eq(apiKeys.id, id))
    .limit(1);
  if (!row) throw notFound('API key');
  if (!row.deletedAt) {
    await db
      .update(apiKeys)
      .set({ deletedAt: new Date(), deletedBy: actor.id ?? null })
      .where(and(eq(apiKeys.id, id), isNull(apiKeys.deletedAt)));
  }
  await revocations.revoke(id);
}

/** The row a presented key names, if it is not deleted. */
export async function findLiveKey(db: Db, id: string) {
  const [row] = await db
    .select({ id: apiKeys.id, scopes: apiKeys.scopes, secretHash: apiKeys.secretHash })
    .from(apiKeys)
    .where(and(eq(apiKeys.id, id), isNull(apiKeys.deletedAt)))
    .limit(1);
  return row;
}
