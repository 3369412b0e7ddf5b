import type { Db, Statement, Tx } from './client';

/**
 * Hand-built statements for the worker's hot batch paths. drizzle's query builders and `sql`
 * templates cost the worker 12–17 % of its CPU at saturation: every fragment is an object, every chunk is walked and type-checked again per
 * statement. A batch statement here is its static text (written once) plus `?` placeholders joined
 * for the batch's row count; every value is still a parameter, escaped by mysql2, never spliced in.
 *
 * It runs through drizzle's own session (`prepareQuery` with a finished query, no result mapping), so
 * the statement still joins the caller's transaction, and a failure is still a `DrizzleQueryError`
 * with mysql2's error as its cause, as with `db.execute`. Rows come back as mysql2 gives them, keyed
 * by column name (or alias).
 */
interface RawSession {
  prepareQuery(query: Statement, fields: undefined): { execute(): Promise<unknown> };
}

/** drizzle keeps its session on the database and on each transaction (not in its public types). */
const sessionOf = (db: Db | Tx): RawSession => (db as unknown as { session: RawSession }).session;

/** The result of an INSERT, UPDATE or DELETE; mysql2 asks for found rows (matched, not changed). */
export interface Written {
  affectedRows: number;
}

/*
 * No span per statement: a batch's span (lib/tracing.ts `batchSpan`) times the whole batch, and with
 * every order traced, statement spans were about a fifth of all spans and cost as much, for timings
 * the batch span already gives (the statements of a batch are listed by `bun run bench/batch-cost.ts --sql`).
 */
export async function write(db: Db | Tx, sql: string, params: unknown[]): Promise<Written> {
  const [res] = (await sessionOf(db).prepareQuery({ sql, params }, undefined).execute()) as [Written];
  return res;
}

export async function select<Row>(db: Db | Tx, sql: string, params: unknown[]): Promise<Row[]> {
  const [rows] = (await sessionOf(db).prepareQuery({ sql, params }, undefined).execute()) as [Row[]];
  return rows;
}

/** `?, ?, …, ?` for n values (n ≥ 1). */
export const marks = (n: number): string => (n === 1 ? '?' : `?${', ?'.repeat(n - 1)}`);

/**
 * `CASE key WHEN ? THEN ? … END` over entries (pushing their values onto params in order), with
 * `ELSE elseSql` when given. The key and elseSql are static SQL written by the caller.
 */
export function caseWhen(
  key: string,
  entries: Iterable<readonly [unknown, unknown]>,
  params: unknown[],
  elseSql?: string,
): string {
  let text = `CASE ${key}`;
  for (const [k, v] of entries) {
    text += ' WHEN ? THEN ?';
    params.push(k, v);
  }
  return elseSql === undefined ? `${text} END` : `${text} ELSE ${elseSql} END`;
}

/** A multi-row `VALUES (…), (…)` tail: one `(?, …)` group per row of `width` values. */
export function valueRows(rows: number, width: number): string {
  const one = `(${marks(width)})`;
  return rows === 1 ? one : `${one}${`, ${one}`.repeat(rows - 1)}`;
}
