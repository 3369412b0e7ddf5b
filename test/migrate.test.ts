import { afterAll, expect, test } from 'bun:test';
import mysql from 'mysql2/promise';
import { dropDatabase, migrateDatabase } from '../db/migrate';
import journal from '../db/migrations/meta/_journal.json';
import { uniqueSuffix } from './support/harness';

const url = `${process.env.TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306'}/oftest_${uniqueSuffix()}`;
afterAll(() => dropDatabase(url));

test('replicas starting together: concurrent migrations of a missing database all succeed, once', async () => {
  await Promise.all(Array.from({ length: 4 }, () => migrateDatabase(url)));
  const conn = await mysql.createConnection({ uri: url });
  try {
    const [applied] = await conn.query('SELECT COUNT(*) AS n FROM __drizzle_migrations');
    const [tables] = await conn.query('SHOW TABLES');
    // Each migration of the journal applied once (not once per replica).
    expect(Number((applied as { n: number }[])[0]?.n)).toBe(journal.entries.length);
    expect((tables as unknown[]).length).toBeGreaterThanOrEqual(9);
  } finally {
    await conn.end();
  }
});
