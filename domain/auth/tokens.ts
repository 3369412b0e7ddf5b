import { and, eq, isNull } from 'drizzle-orm';
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

/** Verifies signature, algorithm (HS256 only: `alg: none` and others are refused), issuer, audience, expiry. */
export async function verifyAccessToken(s: TokenSettings, token: string): Promise<Principal> {
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
    if (familyId && (await s.revocations?.isRevoked(familyId))) {
      throw new DomainError('unauthorized', 'Access token was revoked: its login was ended');
    }
    return { userId: payload.sub, role, ...(familyId ? { familyId } : {}) };
  } catch (err) {
    if (err instanceof DomainError) throw err;
    const expired = err instanceof joseErrors.JWTExpired;
    throw new DomainError('unauthorized', expired ? 'Access token expired' : 'Access token is invalid');
  }
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

/**
 * Rotates a refresh token: it works once. Presenting a spent one means it leaked (or a client
 * raced itself): the whole family descended from that login is revoked (OAuth 2.1 reuse detection).
 */
export async function rotateRefreshToken(db: Db, s: TokenSettings, presented: string): Promise<TokenPair> {
  const [id, secret] = presented.split('.');
  if (!id || !secret) throw refused();
  const [row] = await db.select().from(refreshTokens).where(eq(refreshTokens.id, id)).limit(1);
  if (!row || row.secretHash !== sha256(secret)) throw refused();
  const now = new Date();
  if (row.revokedAt || row.expiresAt <= now) throw refused();
  const [spend] = await db
    .update(refreshTokens)
    .set({ usedAt: now })
    .where(and(eq(refreshTokens.id, id), isNull(refreshTokens.usedAt), isNull(refreshTokens.revokedAt)));
  if (spend.affectedRows !== 1) {
    await db
      .update(refreshTokens)
      .set({ revokedAt: now })
      .where(and(eq(refreshTokens.familyId, row.familyId), isNull(refreshTokens.revokedAt)));
    // The access tokens of that login go too, not only its refresh tokens.
    await s.revocations?.revoke(row.familyId, s.accessTtlSeconds);
    throw refused();
  }
  const [user] = await db.select({ role: users.role }).from(users).where(eq(users.id, row.userId)).limit(1);
  if (!user) throw refused();
  return issueTokenPair(db, s, { userId: row.userId, role: user.role }, row.familyId);
}
