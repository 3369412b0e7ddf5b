/** Which cap refused a new live connection. */
export type SlotRefusal = 'user' | 'process';

/**
 * Open live-tracking connections (SSE streams and WebSockets alike) counted per user and in all,
 * in this API process. Each one holds a socket, a place in the hub and, while pub/sub is down, a
 * poll every few seconds: the caps keep one user, or a crowd, from holding them without bound.
 * Counted in memory, so a process that dies frees its slots with it; with N API processes a user
 * may hold up to N × the per-user cap.
 */
export class LiveSlots {
  private total = 0;
  private readonly perUser = new Map<string, number>();

  constructor(
    readonly maxPerUser: number,
    readonly maxPerProcess: number,
  ) {}

  /** Takes a slot for `userId`, or says which cap is full. The release function is idempotent. */
  acquire(userId: string): { release: () => void } | { refused: SlotRefusal } {
    const slot = this.reserve();
    if ('refused' in slot) return slot;
    if (!slot.claim(userId)) {
      slot.release();
      return { refused: 'user' };
    }
    return { release: slot.release };
  }

  /**
   * Takes a process slot for a connection whose user is not known yet (a WebSocket before its auth
   * message): an unauthenticated socket holds memory and a timer too, so it counts like any other.
   * `claim` then charges it to a user (false when that user's cap is full). `release` is idempotent.
   */
  reserve(): { claim: (userId: string) => boolean; release: () => void } | { refused: 'process' } {
    if (this.total >= this.maxPerProcess) return { refused: 'process' };
    this.total++;
    let held = true;
    let owner: string | undefined;
    return {
      claim: (userId) => {
        if (!held || owner !== undefined) return false;
        const mine = this.perUser.get(userId) ?? 0;
        if (mine >= this.maxPerUser) return false;
        owner = userId;
        this.perUser.set(userId, mine + 1);
        return true;
      },
      release: () => {
        if (!held) return;
        held = false;
        this.total--;
        if (owner === undefined) return;
        const left = (this.perUser.get(owner) ?? 1) - 1;
        if (left > 0) this.perUser.set(owner, left);
        else this.perUser.delete(owner);
      },
    };
  }

  /** True when a new connection could get a slot as far as the process cap goes. */
  get full(): boolean {
    return this.total >= this.maxPerProcess;
  }

  get open(): number {
    return this.total;
  }
}
