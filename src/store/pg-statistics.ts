// PostgreSQL's planner statistics, kept fresh by the server itself (the store's `optimize`, run by the background
// sweep). Autovacuum cannot be relied on for them: it may be switched off (it is on the CI machine), and even when on
// it analyzes a database at most once a minute, while a fleet's enrollment fills the tables from nothing in less.
// A table without statistics looks empty to the planner, and then it deletes one device's inventory scope through
// `attributes_bool` (tenant, scope) instead of the primary key (tenant, device, scope): a walk over every device's
// rows, for every device (the 1,500-device cluster test spent 95 % of PostgreSQL's CPU there).
import { type Kysely, sql } from 'kysely';

/** Autovacuum's own rule for ANALYZE, at its defaults: more changed rows than 50 + 10 % of the table. */
const THRESHOLD = 50;
const SCALE = 0.1;

/**
 * ANALYZEs the tables of the current schema whose rows changed past autovacuum's rule since their last analysis (or
 * that never had one); answers their names. Processes sharing the database take turns: one that finds another
 * at it skips this round.
 */
export async function analyzeStale(db: Kysely<unknown>): Promise<string[]> {
  return db.transaction().execute(async (trx) => {
    const turn = await sql<{ mine: boolean }>`
      select pg_try_advisory_xact_lock(hashtextextended('flotilla:analyze:' || current_schema(), 0)) as mine`.execute(
      trx,
    );
    if (!turn.rows[0]?.mine) return [];
    const stale = await sql<{ name: string }>`
      select quote_ident(s.schemaname) || '.' || quote_ident(s.relname) as name
        from pg_stat_user_tables s join pg_class c on c.oid = s.relid
       where s.schemaname = current_schema()
         and s.n_mod_since_analyze > ${THRESHOLD} + ${SCALE} * greatest(c.reltuples, 0)
       order by s.relname`.execute(trx);
    for (const { name } of stale.rows) await sql`analyze ${sql.raw(name)}`.execute(trx);
    return stale.rows.map((r) => r.name);
  });
}
