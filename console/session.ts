import type { Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import type { Config } from '../lib/config';
import type { RedisClient } from '../lib/redis';
import type { ConsoleSession, Flash } from './deps';

export const SESSION_COOKIE = 'orderflow_console';

type Stored = Omit<ConsoleSession, 'id'>;

const randomToken = () => Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url');

async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return Buffer.from(digest).toString('hex');
}

/**
 * Server-side sessions in Redis under the app's prefix, one key per session with a TTL renewed on
 * use. The cookie carries a random id; Redis keeps only its hash, so a copy of Redis signs no one in.
 */
export class ConsoleSessions {
  private readonly prefix: string;
  private readonly ttl: number;
  private readonly secure: boolean;

  constructor(
    private readonly redis: RedisClient,
    config: Pick<Config, 'QUEUE_PREFIX' | 'CONSOLE_SESSION_TTL_SECONDS' | 'NODE_ENV'>,
  ) {
    this.prefix = `${config.QUEUE_PREFIX}:console:session:`;
    this.ttl = config.CONSOLE_SESSION_TTL_SECONDS;
    this.secure = config.NODE_ENV === 'production';
  }

  private async key(id: string): Promise<string> {
    return this.prefix + (await sha256(id));
  }

  /** A new session with a new id (never the one the browser came with: no fixation), set as the cookie. */
  async start(c: Context, user: { id: string; email: string }): Promise<ConsoleSession> {
    await this.forget(c);
    const id = randomToken();
    const stored: Stored = { userId: user.id, email: user.email, csrf: randomToken() };
    await this.redis.set(await this.key(id), JSON.stringify(stored), 'EX', this.ttl);
    setCookie(c, SESSION_COOKIE, id, {
      path: '/console',
      httpOnly: true,
      sameSite: 'Strict',
      secure: this.secure,
      maxAge: this.ttl,
    });
    return { id, ...stored };
  }

  /** The request's session, its TTL renewed; undefined when there is none or it ended. */
  async current(c: Context): Promise<ConsoleSession | undefined> {
    const id = getCookie(c, SESSION_COOKIE);
    if (!id || id.length > 100) return undefined;
    const key = await this.key(id);
    const raw = await this.redis.get(key);
    if (!raw) return undefined;
    await this.redis.expire(key, this.ttl);
    return { id, ...(JSON.parse(raw) as Stored) };
  }

  /** Ends the request's session server-side: its cookie no longer signs anyone in. */
  async end(c: Context): Promise<void> {
    await this.forget(c);
    deleteCookie(c, SESSION_COOKIE, { path: '/console', secure: this.secure });
  }

  /** Removes the request's session from Redis, if it has one. */
  private async forget(c: Context): Promise<void> {
    const id = getCookie(c, SESSION_COOKIE);
    if (id && id.length <= 100) await this.redis.del(await this.key(id));
  }

  /** Keeps a message for the next page the session opens. */
  async flash(session: ConsoleSession, flash: Flash): Promise<void> {
    const { id, ...stored } = session;
    await this.redis.set(await this.key(id), JSON.stringify({ ...stored, flash }), 'EX', this.ttl);
  }

  /** The message kept for this page, removed as it is read. */
  async takeFlash(session: ConsoleSession): Promise<Flash | undefined> {
    if (!session.flash) return undefined;
    const { id, flash, ...stored } = session;
    await this.redis.set(await this.key(id), JSON.stringify(stored), 'EX', this.ttl);
    return flash;
  }
}
