import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/mysql2';
import mysql from 'mysql2/promise';
import * as schema from './schema';

export function createPool(url: string, connectionLimit: number): mysql.Pool {
  return mysql.createPool({
    uri: url,
    connectionLimit,
    waitForConnections: true,
    // Stored datetimes are UTC; without this mysql2 reads them in the process's zone.
    timezone: 'Z',
    dateStrings: false,
    enableKeepAlive: true,
    connectTimeout: 5000,
    supportBigNumbers: true,
    bigNumberStrings: false,
  });
}

export function createDb(pool: mysql.Pool) {
  return drizzle(pool, { schema, mode: 'default' });
}

export type Db = ReturnType<typeof createDb>;
/** A transaction handle; domain actions take `Db | Tx` where they can join a caller's transaction. */
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];

/** The cheapest question MySQL can answer: readiness asks it. */
export async function pingDatabase(db: Db): Promise<void> {
  await db.execute(sql`SELECT 1`);
}
