import { inArray } from 'drizzle-orm';
import type { Db } from '../../db/client';
import { users } from '../../db/schema';

export interface Customer {
  id: string;
  email: string;
  name: string;
}

/** Names and emails of the given accounts (for operators' lists), in one read by primary key. */
export async function customersByIds(db: Db, ids: string[]): Promise<Map<string, Customer>> {
  const unique = [...new Set(ids)];
  if (unique.length === 0) return new Map();
  const rows = await db
    .select({ id: users.id, email: users.email, name: users.name })
    .from(users)
    .where(inArray(users.id, unique));
  return new Map(rows.map((r) => [r.id, r]));
}
