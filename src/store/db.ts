// Opens the SQL store: SQLite (better-sqlite3, WAL) in the data directory by default, PostgreSQL when the
// database URL says so. One Kysely instance per process; queries are the same for both dialects. Each dialect keeps
// its statements prepared (sqlite.ts, postgres.ts) and counts what it sends (statement-log.ts).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, type Transaction } from 'kysely';
import pg from 'pg';
import { regexMatches } from '../inventory/regex.js';
import { SAFETY_PAGES, startCheckpointer } from './checkpoints.js';
import { analyzeStale } from './pg-statistics.js';
import { postgresDialect } from './postgres.js';
import type { Tables } from './schema.js';
import { sqliteDialect } from './sqlite.js';
import { StatementLog } from './statement-log.js';

export type DialectName = 'sqlite' | 'postgres';

export interface Store {
  db: Kysely<Tables>;
  dialect: DialectName;
  /**
   * Runs `work` in one transaction; every write that spans tables goes through here. Inside `work`, query through
   * `trx` only: a query on `db` waits for the connection the transaction holds (SQLite has one) and never returns.
   */
  transaction<T>(work: (trx: Transaction<Tables>) => Promise<T>): Promise<T>;
  close(): Promise<void>;
  /**
   * Keeps the query planner's statistics fresh. SQLite has none until ANALYZE runs, and without them it answers
   * the inventory's group filter through the wrong index (once per device: minutes for a 100k-device fleet
   * instead of a second). PostgreSQL's autovacuum may be off or a minute late (./pg-statistics.ts).
   */
  optimize(): Promise<void>;
  /** Connections of the pool (metrics): SQLite has one, always open. */
  poolUse(): { total: number; idle: number; waiting: number };
  /**
   * SQL statements sent through `db` since the store opened, transaction control included (`begin`, `commit`,
   * `rollback`, savepoints): a running total to hold requests to a statement budget (take the difference).
   */
  statements(): number;
  /**
   * Switches recording of the statements' SQL texts on (true) or off (false), and returns the texts recorded since
   * the previous call, in order: for finding out what broke a statement budget.
   */
  trace(on: boolean): string[];
}

export interface StoreOptions {
  databaseUrl: string;
  dataDir: string;
  /** PostgreSQL schema to use (tests give each app its own); created when missing. */
  pgSchema?: string;
  /**
   * PostgreSQL: milliseconds one statement may run (lock waits included) before the server cancels it and the
   * request gets a 503; 0 lets it run for ever. Without it a dozen costly searches held the whole pool for minutes.
   */
  statementTimeout?: number;
}

// COUNT(*) and BIGINT come back from pg as strings; every value we count fits a JS number.
pg.types.setTypeParser(20, (value) => Number(value));

export async function openStore(options: StoreOptions): Promise<Store> {
  const url = options.databaseUrl;
  if (url.startsWith('postgres://') || url.startsWith('postgresql://'))
    return openPostgres(url, options.pgSchema, options.statementTimeout ?? 0);
  if (url && !url.startsWith('sqlite:')) throw new Error(`unsupported database URL: ${url}`);
  const file = url.startsWith('sqlite:') ? url.slice('sqlite:'.length) : join(options.dataDir, 'flotilla.sqlite');
  if (file !== ':memory:') mkdirSync(options.dataDir, { recursive: true });
  const sqlite = new SQLite(file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  sqlite.pragma('synchronous = NORMAL');
  registerRegexp(sqlite);
  // SQLite's advice for long-lived connections: ANALYZE where statistics are missing or stale, at open (0x10002)
  // and then now and again (`optimize`, called by the background sweep). No analysis_limit: a bounded ANALYZE samples the first rows of each index, and on the attributes table (ordered
  // by tenant, scope, name) that gave estimates that sent a group's device search to a plan that ran for minutes
  // on a 100k-device fleet; a full one takes about a second there, and optimize runs it only on tables that changed.
  sqlite.pragma('optimize = 0x10002');
  // WAL checkpoints run on a worker thread (checkpoints.ts); this connection checkpoints only as a safety net.
  let checkpointer: ReturnType<typeof startCheckpointer> | undefined;
  if (file !== ':memory:') {
    sqlite.pragma(`wal_autocheckpoint = ${SAFETY_PAGES}`);
    checkpointer = startCheckpointer(file);
  }
  const log = new StatementLog();
  const db = new Kysely<Tables>({ dialect: sqliteDialect(sqlite, log) });
  return wrap(
    db,
    'sqlite',
    log,
    async () => {
      sqlite.pragma('optimize');
    },
    () => ({ total: 1, idle: 1, waiting: 0 }),
    () => checkpointer?.stop(),
  );
}

async function openPostgres(url: string, schema: string | undefined, statementTimeout: number): Promise<Store> {
  if (schema && !/^[a-z_][a-z0-9_]*$/.test(schema)) throw new Error(`bad schema name ${schema}`);
  if (schema) {
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      await admin.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    } finally {
      await admin.end();
    }
  }
  const settings = [`-c statement_timeout=${Math.max(0, Math.floor(statementTimeout))}`];
  if (schema) settings.push(`-c search_path=${schema}`);
  const pool = new pg.Pool({ connectionString: url, max: 10, options: settings.join(' ') });
  const log = new StatementLog();
  const db = new Kysely<Tables>({ dialect: postgresDialect(pool, log) });
  const optimize = async () => {
    await analyzeStale(db as unknown as Kysely<unknown>);
  };
  return wrap(db, 'postgres', log, optimize, () => ({
    total: pool.totalCount,
    idle: pool.idleCount,
    waiting: pool.waitingCount,
  }));
}

/**
 * Inventory `$regex` filters: SQLite's REGEXP operator calls regexp(pattern, value). The inventory's engine answers
 * (RE2, linear in the value: a JavaScript RegExp here held the whole process for minutes on one pattern).
 */
function registerRegexp(sqlite: SQLite.Database): void {
  sqlite.function('regexp', { deterministic: true }, (pattern: unknown, value: unknown) =>
    typeof pattern === 'string' && typeof value === 'string' && regexMatches(pattern, value) ? 1 : 0,
  );
}

function wrap(
  db: Kysely<Tables>,
  dialect: DialectName,
  log: StatementLog,
  optimize: () => Promise<void> = async () => {},
  poolUse: Store['poolUse'] = () => ({ total: 1, idle: 1, waiting: 0 }),
  beforeClose: () => Promise<void> | undefined = () => undefined,
): Store {
  return {
    db,
    dialect,
    transaction: (work) => db.transaction().execute(work),
    close: async () => {
      await beforeClose();
      await db.destroy();
    },
    optimize,
    poolUse,
    statements: () => log.count,
    trace: (on) => log.trace(on),
  };
}

/** Current time as it is stored and sent: RFC 3339 UTC with milliseconds. Sorts as text. */
export function now(): string {
  return new Date().toISOString();
}
