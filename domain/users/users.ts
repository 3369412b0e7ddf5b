import { eq } from 'drizzle-orm';
import type { Db, Tx } from '../../db/client';
import { isDuplicateKey } from '../../db/errors';
import { type Role, users } from '../../db/schema';
import { newId } from '../../lib/ids';
import { endAllSessions, type TokenSettings } from '../auth/tokens';
import { conflict, DomainError, notFound } from '../errors';
import { hashPassword, verifyPassword } from './passwords';
import { decryptPii, encryptPii } from './pii';

export interface PublicUser {
  id: string;
  email: string;
  name: string;
  role: Role;
  phone?: string;
}

export interface RegisterInput {
  email: string;
  password: string;
  name: string;
  phone?: string | undefined;
  role?: Role;
}

const normalizeEmail = (email: string) => email.trim().toLowerCase();

export async function registerUser(
  db: Db,
  piiKey: Uint8Array<ArrayBuffer>,
  input: RegisterInput,
): Promise<PublicUser> {
  const email = normalizeEmail(input.email);
  const row = {
    id: newId('usr'),
    email,
    passwordHash: await hashPassword(input.password),
    name: input.name,
    phoneEnc: input.phone ? await encryptPii(piiKey, input.phone) : null,
    role: input.role ?? 'user',
    createdAt: new Date(),
  };
  try {
    await db.insert(users).values(row);
  } catch (err) {
    if (isDuplicateKey(err)) throw conflict('An account with this email already exists');
    throw err;
  }
  return { id: row.id, email, name: row.name, role: row.role };
}

// A hash of a random password: verifying against it when the email is unknown keeps the
// answer time the same as for a wrong password, so login does not reveal which emails exist.
let dummyHash: Promise<string> | undefined;

export async function verifyCredentials(db: Db, email: string, password: string): Promise<PublicUser> {
  const [row] = await db
    .select()
    .from(users)
    .where(eq(users.email, normalizeEmail(email)))
    .limit(1);
  dummyHash ??= hashPassword(crypto.randomUUID());
  const ok = await verifyPassword(password, row?.passwordHash ?? (await dummyHash));
  if (!row || !ok) throw new DomainError('unauthorized', 'Email or password is wrong');
  return { id: row.id, email: row.email, name: row.name, role: row.role };
}

/** The user as its owner sees it: with the phone number decrypted. */
export async function getUserForOwner(
  db: Db,
  piiKey: Uint8Array<ArrayBuffer>,
  id: string,
): Promise<PublicUser> {
  const [row] = await db.select().from(users).where(eq(users.id, id)).limit(1);
  if (!row) throw notFound('User');
  const user: PublicUser = { id: row.id, email: row.email, name: row.name, role: row.role };
  if (row.phoneEnc) user.phone = await decryptPii(piiKey, row.phoneEnc);
  return user;
}

/** Contact details for notifications (workers only; never put in a job payload). */
export async function getContact(
  db: Db | Tx,
  piiKey: Uint8Array<ArrayBuffer>,
  id: string,
): Promise<{ email: string; name: string; phone: string | null } | undefined> {
  const [row] = await db.select().from(users).where(eq(users.id, id)).limit(1);
  if (!row) return undefined;
  return {
    email: row.email,
    name: row.name,
    phone: row.phoneEnc ? await decryptPii(piiKey, row.phoneEnc) : null,
  };
}

/**
 * Makes the configured admin exist (and be an admin with that password) at start. An account that
 * already had that email (anyone may have registered it) and is promoted, or whose password is
 * set, loses every session it had: a token issued before must not carry on as, or turn into, admin.
 */
export async function ensureAdmin(
  db: Db,
  piiKey: Uint8Array<ArrayBuffer>,
  tokens: TokenSettings,
  email: string,
  password: string,
): Promise<'created' | 'updated' | 'unchanged'> {
  const normalized = normalizeEmail(email);
  const [row] = await db.select().from(users).where(eq(users.email, normalized)).limit(1);
  if (!row) {
    try {
      await registerUser(db, piiKey, { email: normalized, password, name: 'Administrator', role: 'admin' });
      return 'created';
    } catch (err) {
      // Two processes starting at once both try; the loser finds the row the winner wrote.
      if (!(err instanceof DomainError && err.code === 'conflict')) throw err;
      return 'unchanged';
    }
  }
  const samePassword = await verifyPassword(password, row.passwordHash);
  if (row.role === 'admin' && samePassword) return 'unchanged';
  await db
    .update(users)
    .set({ role: 'admin', passwordHash: samePassword ? row.passwordHash : await hashPassword(password) })
    .where(eq(users.id, row.id));
  await endAllSessions(db, tokens, row.id);
  return 'updated';
}
