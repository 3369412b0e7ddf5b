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
    if (this.total >= this.maxPerProcess) return { refused: 'process' };
    const mine = this.perUser.get(userId) ?? 0;
    if (mine >= this.maxPerUser) return { refused: 'user' };
    this.total++;
    this.perUser.set(userId, mine + 1);
    let held = true;
    return {
      release: () => {
        if (!held) return;
        held = false;
        this.total--;
        const left = (this.perUser.get(userId) ?? 1) - 1;
        if (left > 0) this.perUser.set(userId, left);
        else this.perUser.delete(userId);
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
