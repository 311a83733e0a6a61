// What a domain's migrations need to know about the database they run on. Kept apart from migrate.ts, which
// imports every domain's migrations: importing from there would make each domain and the collector import each other.
import { type Kysely, PostgresAdapter } from 'kysely';
import type { DialectName } from './db.js';

export function dialectOf(db: Kysely<unknown>): DialectName {
  return db.getExecutor().adapter instanceof PostgresAdapter ? 'postgres' : 'sqlite';
}

/** Column types that differ between the dialects. */
export function columnTypes(db: Kysely<unknown>) {
  const postgres = dialectOf(db) === 'postgres';
  return {
    /** A floating-point number. */
    real: postgres ? ('double precision' as const) : ('real' as const),
    /** 0 or 1; kept as an integer in both dialects so that rows read the same. */
    flag: 'integer' as const,
    bigint: postgres ? ('bigint' as const) : ('integer' as const),
  };
}
