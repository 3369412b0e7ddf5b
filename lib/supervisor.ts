import type { Subprocess } from 'bun';
import type { Logger } from './logger';

export interface ChildSpec {
  /** `api-1`, `worker-2`: the child's `--name`, in its logs and in the supervisor's. */
  name: string;
  cmd: string[];
  env: Record<string, string | undefined>;
}

export interface SupervisorOptions {
  /** Children get this long to drain after SIGTERM (their own SHUTDOWN_GRACE_MS)… */
  graceMs: number;
  /** …plus this to close their connections; then whatever is left is killed. */
  closeMarginMs?: number;
  /** First restart delay; doubled per crash in a row, up to `maxBackoffMs`. */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** A child that ran this long before exiting crashed "once", not in a loop: its backoff starts over. */
  healthyAfterMs?: number;
}

export interface ChildState {
  name: string;
  pid: number | undefined;
  restarts: number;
}

interface Child {
  spec: ChildSpec;
  proc: Subprocess | undefined;
  startedAt: number;
  restarts: number;
  crashesInARow: number;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/**
 * Keeps a set of child processes running: a child that exits while the supervisor is not stopping is
 * started again after a backoff (so a child that cannot start does not spin a core); `stop()` sends
 * SIGTERM to all, waits for them to drain, and kills the ones past the deadline.
 */
export class Supervisor {
  private readonly children: Child[];
  private stopping = false;

  constructor(
    specs: ChildSpec[],
    private readonly logger: Logger,
    private readonly options: SupervisorOptions,
  ) {
    this.children = specs.map((spec) => ({
      spec,
      proc: undefined,
      startedAt: 0,
      restarts: 0,
      crashesInARow: 0,
      timer: undefined,
    }));
  }

  start(): void {
    for (const child of this.children) this.spawn(child);
  }

  state(): ChildState[] {
    return this.children.map((c) => ({ name: c.spec.name, pid: c.proc?.pid, restarts: c.restarts }));
  }

  /** SIGTERM to every child; resolves when all have exited (killed after grace + margin). */
  async stop(): Promise<void> {
    this.stopping = true;
    const { graceMs, closeMarginMs = 3000 } = this.options;
    const running = this.children.flatMap((c) => {
      clearTimeout(c.timer);
      return c.proc && c.proc.exitCode === null && c.proc.signalCode === null ? [c.proc] : [];
    });
    for (const proc of running) proc.kill('SIGTERM');
    const all = Promise.all(running.map((p) => p.exited));
    const done = await Promise.race([
      all.then(() => true),
      Bun.sleep(graceMs + closeMarginMs).then(() => false),
    ]);
    if (!done) {
      const late = running.filter((p) => p.exitCode === null && p.signalCode === null);
      this.logger.warn({ pids: late.map((p) => p.pid) }, 'children past the shutdown deadline: killed');
      for (const p of late) p.kill('SIGKILL');
      await all;
    }
    this.logger.info('all children stopped');
  }

  private spawn(child: Child): void {
    if (this.stopping) return;
    const env = Object.fromEntries(Object.entries(child.spec.env).filter(([, v]) => v !== undefined));
    const proc = Bun.spawn(child.spec.cmd, {
      env: env as Record<string, string>,
      stdin: 'ignore',
      stdout: 'inherit',
      stderr: 'inherit',
    });
    child.proc = proc;
    child.startedAt = Date.now();
    this.logger.info({ child: child.spec.name, childPid: proc.pid }, `started ${child.spec.name}`);
    void proc.exited.then((code) => this.exited(child, proc, code));
  }

  private exited(child: Child, proc: Subprocess, code: number): void {
    if (child.proc !== proc || this.stopping) return;
    const { backoffMs = 500, maxBackoffMs = 15_000, healthyAfterMs = 30_000 } = this.options;
    const ranMs = Date.now() - child.startedAt;
    child.crashesInARow = ranMs >= healthyAfterMs ? 1 : child.crashesInARow + 1;
    const delay = Math.min(maxBackoffMs, backoffMs * 2 ** (child.crashesInARow - 1));
    child.restarts++;
    this.logger.error(
      {
        child: child.spec.name,
        childPid: proc.pid,
        code,
        signal: proc.signalCode,
        ranMs,
        restartInMs: delay,
      },
      `${child.spec.name} exited; restarting`,
    );
    child.timer = setTimeout(() => this.spawn(child), delay);
  }
}

/** A free TCP port on this machine, for children that must all bind the same one (`reusePort`). */
export function freePort(): number {
  const probe = Bun.serve({ port: 0, fetch: () => new Response(null) });
  const port = probe.port;
  probe.stop(true);
  if (port === undefined) throw new Error('could not find a free port');
  return port;
}
