import { loadConfig } from '../lib/config';
import { migrateDatabase } from './migrate';

const config = loadConfig();
await migrateDatabase(config.DATABASE_URL);
console.log(`migrations applied to ${new URL(config.DATABASE_URL).pathname.slice(1)}`);
