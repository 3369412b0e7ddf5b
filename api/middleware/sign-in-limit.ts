import type { Config } from '../../lib/config';
import type { RedisClient } from '../../lib/redis';
import type { ProblemError } from '../problem';
import {
  addressKey,
  type Check,
  consumeAll,
  type RateLimitScope,
  redisLimiter,
  tooMany,
  type Verdict,
} from './limits';

/** The email as an account key: the case and surrounding blanks of what was typed do not make a new budget. */
export const accountKey = (email: string) => email.trim().toLowerCase().slice(0, 254);

/**
 * The sign-in budgets, the same for `POST /auth/login` and the board's HTTP Basic sign-in (both
 * check a password, so both spend them):
 * - `login`: per address (IPv6 by /64) and email, LOGIN_RATE_LIMIT_PER_MINUTE, then blocked for
 *   LOGIN_BLOCK_SECONDS; cleared by a success from that address;
 * - `login_address`: per address whatever the email, LOGIN_ADDRESS_RATE_LIMIT_PER_MINUTE: a sprayer
 *   trying one password on many accounts spends one pair budget per email, but this one for all; a
 *   success gives its point back (it is not wiped: one valid account must not buy a sprayer more);
 * - `account`: per email from every address together, LOGIN_ACCOUNT_RATE_LIMIT_PER_MINUTE, then
 *   blocked too, so that guesses spread over many addresses still meet one limit; a success gives
 *   its own point back (only failures add up) without wiping what others spent.
 * An attempt is counted BEFORE its password is checked, atomically in Redis: a burst sent at once
 * gets at most the budget's worth of argon2 checks, the rest a 429. A per-account limit lets anyone
 * who knows an email hold its owner back for LOGIN_BLOCK_SECONDS by guessing from many addresses:
 * the price of capping guesses per account; the address budget is the tighter one for that reason.
 */
export class SignInLimits {
  private readonly address;
  private readonly anyEmail;
  private readonly account;

  constructor(config: Config, redis: RedisClient) {
    this.address = redisLimiter(
      config,
      redis,
      'login',
      config.LOGIN_RATE_LIMIT_PER_MINUTE,
      config.LOGIN_BLOCK_SECONDS,
    );
    this.anyEmail = redisLimiter(config, redis, 'login_address', config.LOGIN_ADDRESS_RATE_LIMIT_PER_MINUTE);
    this.account = redisLimiter(
      config,
      redis,
      'account',
      config.LOGIN_ACCOUNT_RATE_LIMIT_PER_MINUTE,
      config.LOGIN_BLOCK_SECONDS,
    );
  }

  /** The per-address budgets an attempt spends first: the address with this email, and the address alone. */
  addressChecks(ip: string, email: string): Check[] {
    const address = addressKey(ip);
    return [
      { scope: 'login', limiter: this.address, key: `${address}|${accountKey(email)}` },
      { scope: 'login_address', limiter: this.anyEmail, key: address },
    ];
  }

  /**
   * The per-account budget, spent only by an attempt every other limit let through: an address
   * already refused cannot go on draining the account's budget for the account's owner.
   * An attempt without an email (refused as invalid) spends none.
   */
  accountChecks(email: string): Check[] {
    const account = accountKey(email);
    return account ? [{ scope: 'account', limiter: this.account, key: account }] : [];
  }

  /** Spends one attempt (address first, then account); the 429 to answer when a budget is spent. */
  async admit(
    ip: string,
    email: string,
    unavailable: (err: unknown, scope: RateLimitScope) => void,
  ): Promise<{ refusal?: ProblemError; passed: Verdict[] }> {
    const first = await consumeAll(this.addressChecks(ip, email), unavailable);
    const early = tooMany(first.refused);
    if (early) return { refusal: early, passed: first.passed };
    const second = await consumeAll(this.accountChecks(email), unavailable);
    const passed = [...first.passed, ...second.passed];
    const refusal = tooMany(second.refused);
    return refusal ? { refusal, passed } : { passed };
  }

  /**
   * A correct password: this address starts afresh with this email, and the address and the account
   * each get back the point the attempt took.
   */
  async succeeded(ip: string, email: string): Promise<void> {
    const account = accountKey(email);
    const address = addressKey(ip);
    await Promise.all([
      this.address.delete(`${address}|${account}`),
      this.anyEmail.reward(address, 1),
      account ? this.account.reward(account, 1) : Promise.resolve(),
    ]);
  }
}
