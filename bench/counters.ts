/** The servers' and processes' own counters, read before and after a run; the cost sheet is the difference. */
import { readdirSync, readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import type mysql from 'mysql2/promise';

const mysqlKeys = [
  'Questions',
  'Com_select',
  'Com_insert',
  'Com_update',
  'Com_delete',
  'Com_begin',
  'Com_commit',
  'Com_rollback',
  'Com_savepoint',
  'Com_release_savepoint',
  'Handler_commit',
  'Innodb_data_fsyncs',
  'Innodb_log_writes',
] as const;
export type MysqlCounters = Record<(typeof mysqlKeys)[number], number>;

export async function mysqlCounters(pool: mysql.Pool): Promise<MysqlCounters> {
  const [rows] = await pool.query('SHOW GLOBAL STATUS');
  const all = new Map(
    (rows as { Variable_name: string; Value: string }[]).map((r) => [r.Variable_name, r.Value]),
  );
  return Object.fromEntries(mysqlKeys.map((k) => [k, Number(all.get(k) ?? 0)])) as MysqlCounters;
}

/** Calls per command from INFO commandstats, without the INFO calls the benchmark makes itself. */
export async function redisCommands(
  redis: Redis,
): Promise<{ total: number; byCommand: Record<string, number> }> {
  const text = await redis.info('commandstats');
  const byCommand: Record<string, number> = {};
  let total = 0;
  for (const m of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    const [, name, calls] = m;
    if (!name || name === 'info') continue;
    byCommand[name] = Number(calls);
    total += Number(calls);
  }
  return { total, byCommand };
}

export function diff<T extends Record<string, number>>(after: T, before: T): T {
  return Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - (before[k] ?? 0)])) as T;
}

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

function children(): Map<number, number[]> {
  const map = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = map.get(ppid) ?? [];
      list.push(Number(entry));
      map.set(ppid, list);
    } catch {
      // the process ended while we looked
    }
  }
  return map;
}

/** The process and its descendants (`bun run worker` runs the script in a child of the runner). */
export function processTree(pid: number): number[] {
  const kids = children();
  const out: number[] = [];
  const walk = (p: number) => {
    out.push(p);
    for (const c of kids.get(p) ?? []) walk(c);
  };
  walk(pid);
  return out;
}

/** CPU milliseconds (user + system) used so far by these processes. */
export function cpuMs(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15 of stat)
    } catch {
      // gone
    }
  }
  return (ticks * 1000) / TICKS_PER_SECOND;
}

/** The largest peak resident set (VmHWM) among these processes, in MB. */
export function peakRssMb(pids: number[], field: 'VmHWM' | 'VmRSS' = 'VmHWM'): number {
  let max = 0;
  for (const pid of pids) {
    try {
      const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'));
      if (m) max = Math.max(max, Number(m[1]) / 1024);
    } catch {
      // gone
    }
  }
  return Math.round(max);
}
