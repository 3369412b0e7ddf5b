import { and, eq, gte, isNull, lt, or } from 'drizzle-orm';
import { errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import type { Db } from '../../db/client';
import { type Role, refreshTokens, users } from '../../db/schema';
import { newId } from '../../lib/ids';
import { DomainError } from '../errors';

const ISSUER = 'orderflow';
const AUDIENCE = 'orderflow-api';

export interface TokenSettings {
  secret: string;
  accessTtlSeconds: number;
  refreshTtlSeconds: number;
  /** Where revoked login families are remembered for as long as their access tokens live. */
  revocations?: FamilyRevocations;
}

/** A port: families whose refresh token was replayed; their access tokens stop working at once. */
export interface FamilyRevocations {
  revoke(familyId: string, forSeconds: number): Promise<void>;
  isRevoked(familyId: string): Promise<boolean>;
}

export interface Principal {
  userId: string;
  role: Role;
  /** The login (refresh-token family) the access token was issued from. */
  familyId?: string;
  /**
   * Set when the caller is an API key (api/middleware/authorize.ts): then `userId` is the key's id,
   * `role` is `user` (no admin power outside what the key's scopes admitted), and the route's
   * access entry has already admitted the key.
   */
  apiKeyId?: string;
}

export interface TokenPair {
  accessToken: string;
  refreshToken: string;
  tokenType: 'Bearer';
  expiresIn: number;
}

const keyCache = new Map<string, Uint8Array>();
function hmacKey(secret: string): Uint8Array {
  let key = keyCache.get(secret);
  if (!key) {
    key = new TextEncoder().encode(secret);
    keyCache.set(secret, key);
  }
  return key;
}

export async function signAccessToken(s: TokenSettings, p: Principal): Promise<string> {
  return new SignJWT({ role: p.role, ...(p.familyId ? { fam: p.familyId } : {}) })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid: 'hs256-1' })
    .setSubject(p.userId)
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt()
    .setJti(crypto.randomUUID())
    .setExpirationTime(`${s.accessTtlSeconds}s`)
    .sign(hmacKey(s.secret));
}

/**
 * Tokens whose signature and claims were verified, by secret then token string. Verifying is a pure
 * function of the token, the secret and the clock, and a client sends the same token with every
 * request for its whole life: an HMAC check (about 50–130 µs of CPU here, the largest fixed cost of
 * a request) is done once per token and process. Expiry is compared on every use, and the
 * revocation store is asked on every use too, so an ended login is refused at once in every process
 * exactly as without this cache. Bounded: the oldest entries go first; an entry lives at most
 * VERIFIED_TTL_MS (a bound on what a bug here could keep alive, not a substitute for `exp`).
 */
const VERIFIED_MAX = 10_000;
const VERIFIED_TTL_MS = 5 * 60_000;
interface Verified {
  principal: Principal;
  /** The token's `exp`, ms. */
  expiresAt: number;
  /** When this entry stops being used even if the token has not expired, ms. */
  until: number;
}
const verifiedBySecret = new Map<string, Map<string, Verified>>();

function verifiedCache(secret: string): Map<string, Verified> {
  let cache = verifiedBySecret.get(secret);
  if (!cache) {
    cache = new Map();
    verifiedBySecret.set(secret, cache);
  }
  return cache;
}

/** Signature, algorithm, issuer, audience, expiry and claims: whatever the revocation store says. */
async function verifySignedClaims(s: TokenSettings, token: string): Promise<Principal> {
  const cache = verifiedCache(s.secret);
  const now = Date.now();
  const hit = cache.get(token);
  if (hit && now < hit.until) {
    // jose's rule: a token whose `exp` is now or past is expired.
    if (now >= hit.expiresAt) throw new DomainError('unauthorized', 'Access token expired');
    return hit.principal;
  }
  try {
    const { payload } = await jwtVerify(token, hmacKey(s.secret), {
      algorithms: ['HS256'],
      issuer: ISSUER,
      audience: AUDIENCE,
    });
    const role = payload.role;
    if (typeof payload.sub !== 'string' || (role !== 'user' && role !== 'admin')) {
      throw new DomainError('unauthorized', 'Token claims are invalid');
    }
    const familyId = typeof payload.fam === 'string' ? payload.fam : undefined;
    const principal: Principal = { userId: payload.sub, role, ...(familyId ? { familyId } : {}) };
    // Only a token that expires is remembered (ours always do); one without `exp` is checked each time.
    if (typeof payload.exp === 'number') {
      if (hit) cache.delete(token);
      else if (cache.size >= VERIFIED_MAX) {
        const oldest = cache.keys().next();
        if (!oldest.done) cache.delete(oldest.value);
      }
      cache.set(token, { principal, expiresAt: payload.exp * 1000, until: now + VERIFIED_TTL_MS });
    }
    return principal;
  } catch (err) {
    if (err instanceof DomainError) throw err;
    const expired = err instanceof joseErrors.JWTExpired;
    throw new DomainError('unauthorized', expired ? 'Access token expired' : 'Access token is invalid');
  }
}

/**
 * Verifies signature, algorithm (HS256 only: `alg: none` and others are refused), issuer, audience,
 * expiry, then asks the revocation store (every time: see the cache above).
 */
export async function verifyAccessToken(s: TokenSettings, token: string): Promise<Principal> {
  const principal = await verifySignedClaims(s, token);
  if (principal.familyId && (await s.revocations?.isRevoked(principal.familyId))) {
    throw new DomainError('unauthorized', 'Access token was revoked: its login was ended');
  }
  // A copy: callers may not change what the cache hands the next request.
  return { ...principal };
}

const sha256 = (v: string) => new Bun.CryptoHasher('sha256').update(v).digest('hex');

/** Refresh tokens are opaque "<id>.<secret>"; only the secret's hash is stored. */
async function issueRefreshToken(
  db: Db,
  s: TokenSettings,
  userId: string,
  familyId: string,
): Promise<string> {
  const id = newId('rtk');
  const secret = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url');
  const now = new Date();
  await db.insert(refreshTokens).values({
    id,
    userId,
    familyId,
    secretHash: sha256(secret),
    expiresAt: new Date(now.getTime() + s.refreshTtlSeconds * 1000),
    createdAt: now,
  });
  return `${id}.${secret}`;
}

export async function issueTokenPair(db: Db, s: TokenSettings, p: Principal, familyId = newId('fam')) {
  const pair: TokenPair = {
    accessToken: await signAccessToken(s, { ...p, familyId }),
    refreshToken: await issueRefreshToken(db, s, p.userId, familyId),
    tokenType: 'Bearer',
    expiresIn: s.accessTtlSeconds,
  };
  return pair;
}

const refused = () => new DomainError('unauthorized', 'Refresh token is invalid, expired or already used');

/** The stored row a presented "<id>.<secret>" names, when the secret matches; undefined otherwise. */
async function findPresented(db: Db, presented: string) {
  const [id, secret] = presented.split('.');
  if (!id || !secret || id.length > 40) return undefined;
  const [row] = await db.select().from(refreshTokens).where(eq(refreshTokens.id, id)).limit(1);
  if (!row || row.secretHash !== sha256(secret)) return undefined;
  return row;
}

/**
 * Rotates a refresh token: it works once. Presenting a spent one means it leaked (or a client
 * raced itself): the whole family descended from that login is revoked (OAuth 2.1 reuse detection).
 *
 * The successor is written BEFORE the presented token is spent, and spending is a conditional
 * update whose affected rows decide. Whoever revokes the family (reuse detection, logout,
 * logout-all) does so after the spend it raced with either failed (then this rotation refuses and
 * its successor is revoked with the family) or committed (then the successor was already stored
 * and the revocation's UPDATE covers it): no token of a revoked family stays alive.
 */
export async function rotateRefreshToken(db: Db, s: TokenSettings, presented: string): Promise<TokenPair> {
  const row = await findPresented(db, presented);
  const now = new Date();
  if (!row || row.revokedAt || row.expiresAt <= now) throw refused();
  const [user] = await db.select({ role: users.role }).from(users).where(eq(users.id, row.userId)).limit(1);
  if (!user) throw refused();
  const successor = await issueRefreshToken(db, s, row.userId, row.familyId);
  const [spend] = await db
    .update(refreshTokens)
    .set({ usedAt: now })
    .where(and(eq(refreshTokens.id, row.id), isNull(refreshTokens.usedAt), isNull(refreshTokens.revokedAt)));
  if (spend.affectedRows !== 1) {
    // Spent already (reuse) or revoked meanwhile: the family ends, this rotation's successor with it.
    await revokeFamily(db, s, row.familyId);
    throw refused();
  }
  await purgeDeadTokens(db, s, { userId: row.userId });
  return {
    accessToken: await signAccessToken(s, { userId: row.userId, role: user.role, familyId: row.familyId }),
    refreshToken: successor,
    tokenType: 'Bearer',
    expiresIn: s.accessTtlSeconds,
  };
}

/** Ends one login: every refresh token of its family, and (through the revocation port) its access tokens. */
export async function revokeFamily(db: Db, s: TokenSettings, familyId: string): Promise<void> {
  await db
    .update(refreshTokens)
    .set({ revokedAt: new Date() })
    .where(and(eq(refreshTokens.familyId, familyId), isNull(refreshTokens.revokedAt)));
  await s.revocations?.revoke(familyId, s.accessTtlSeconds);
}

/**
 * `POST /auth/logout`: ends the login the presented refresh token belongs to, whatever state the
 * token is in (spent or expired too: the holder wants that login over). A token that names no row
 * or whose secret does not match ends nothing, and is not told apart (no oracle for token ids).
 */
export async function endSession(db: Db, s: TokenSettings, presented: string): Promise<void> {
  const row = await findPresented(db, presented);
  if (row) await revokeFamily(db, s, row.familyId);
}

/**
 * `POST /auth/logout-all`, and what setting an account's role or password does: every login of
 * the user ends. The rows are revoked first (one statement); then every family of the user revoked
 * within an access token's lifetime loses its access tokens too, so a retry after the revocation
 * store failed (503) still reaches the families the first attempt revoked in MySQL.
 */
export async function endAllSessions(db: Db, s: TokenSettings, userId: string): Promise<number> {
  const at = new Date();
  await db
    .update(refreshTokens)
    .set({ revokedAt: at })
    .where(and(eq(refreshTokens.userId, userId), isNull(refreshTokens.revokedAt)));
  const families = await db
    .selectDistinct({ familyId: refreshTokens.familyId })
    .from(refreshTokens)
    .where(
      and(
        eq(refreshTokens.userId, userId),
        gte(refreshTokens.revokedAt, new Date(at.getTime() - s.accessTtlSeconds * 1000)),
      ),
    );
  await Promise.all(families.map((f) => s.revocations?.revoke(f.familyId, s.accessTtlSeconds)));
  return families.length;
}

/** Rows removed per statement: a sweep never holds many locks or runs long. */
const PURGE_BATCH = 500;

/**
 * Deletes refresh tokens that can no longer matter: expired ones (refused before any reuse check)
 * and revoked ones (refused, their family already revoked in the revocation store), each only once
 * an access token issued beside it has surely expired too. A spent token is kept until it expires:
 * presenting it is what reveals a stolen token (reuse detection); deleted, it would be merely
 * unknown and the thief's family would live on. Bounded: one user's rows on rotation, a batch per
 * call in the maintenance sweep.
 */
export async function purgeDeadTokens(
  db: Db,
  s: Pick<TokenSettings, 'accessTtlSeconds'>,
  scope: { userId?: string } = {},
): Promise<number> {
  const cutoff = new Date(Date.now() - s.accessTtlSeconds * 1000);
  const dead = or(lt(refreshTokens.expiresAt, cutoff), lt(refreshTokens.revokedAt, cutoff));
  const [result] = await db
    .delete(refreshTokens)
    .where(scope.userId ? and(eq(refreshTokens.userId, scope.userId), dead) : dead)
    .limit(PURGE_BATCH);
  return result.affectedRows;
}
