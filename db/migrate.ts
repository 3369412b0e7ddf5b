import { drizzle } from 'drizzle-orm/mysql2';
import { migrate } from 'drizzle-orm/mysql2/migrator';
import mysql from 'mysql2/promise';

const migrationsFolder = new URL('./migrations', import.meta.url).pathname;

/** Creates the database named in the URL when missing, then applies pending migrations. */
export async function migrateDatabase(url: string): Promise<void> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.replace(/^\//, ''));
  if (!/^[A-Za-z0-9_]+$/.test(name)) throw new Error(`DATABASE_URL names an unusable database: "${name}"`);
  const server = new URL(url);
  server.pathname = '/';
  const admin = await mysql.createConnection({ uri: server.toString(), connectTimeout: 5000 });
  try {
    await admin.query(`CREATE DATABASE IF NOT EXISTS \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
  } finally {
    await admin.end();
  }
  const conn = await mysql.createConnection({ uri: url, connectTimeout: 5000, multipleStatements: true });
  try {
    // Several API replicas start at once: one migrates, the others wait for it and find nothing to do.
    const [rows] = await conn.query('SELECT GET_LOCK(?, 120) AS got', [`orderflow_migrate_${name}`]);
    if ((rows as { got: number | null }[])[0]?.got !== 1)
      throw new Error('timed out waiting for another migration');
    await migrate(drizzle(conn), { migrationsFolder });
  } finally {
    await conn.end(); // ends the session, which releases the lock
  }
}

export async function dropDatabase(url: string): Promise<void> {
  const name = decodeURIComponent(new URL(url).pathname.replace(/^\//, ''));
  const server = new URL(url);
  server.pathname = '/';
  const admin = await mysql.createConnection({ uri: server.toString() });
  try {
    await admin.query(`DROP DATABASE IF EXISTS \`${name}\``);
  } finally {
    await admin.end();
  }
}
