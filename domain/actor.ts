import type { ActorType } from '../db/schema';

export { type ActorType, actorTypes } from '../db/schema';

/**
 * Who caused a change: a customer, an admin, another system through an API key (by the key's id), or
 * Orderflow itself (the saga's steps, expiry, the reconciler). Plain data: the API derives it from the
 * credential and hands it to the domain action, which records it in the same transaction as the change.
 */
export interface Actor {
  type: ActorType;
  /** The user's or the key's id; absent for `system`. */
  id?: string;
}

export const systemActor: Actor = Object.freeze({ type: 'system' });

/** The two columns a row that records its actor stores (`actor_type`, `actor_id`). */
export function actorColumns(actor: Actor): { actorType: ActorType; actorId: string | null } {
  return { actorType: actor.type, actorId: actor.id ?? null };
}

/** The actor a stored row names; rows written before actors were recorded read as `system`. */
export function actorFromColumns(type: ActorType | null | undefined, id: string | null | undefined): Actor {
  return { type: type ?? 'system', ...(id ? { id } : {}) };
}

/** A short form for log lines: `admin:usr_…`, `api_key:key_…`, `system`. */
export const actorLabel = (actor: Actor): string => (actor.id ? `${actor.type}:${actor.id}` : actor.type);
