// SQLite as the store runs it under Kysely: each SQL text is prepared once and its better-sqlite3 statement reused,
// and LIMIT and OFFSET are written into the SQL as literals. On the device poll, preparing was a fifth of the CPU,
// and a bound `limit ?` makes SQLite redo most of a prepare at every run, cached or not (13 µs against 1.3 µs for
// `limit 1`; research/performance.md 1.3).
import type BetterSqlite3 from 'better-sqlite3';
import {
  type LimitNode,
  type OffsetNode,
  type OperationNode,
  type QueryCompiler,
  type SqliteDatabase,
  SqliteDialect,
  SqliteQueryCompiler,
  type ValueNode,
} from 'kysely';
import type { StatementLog } from './statement-log.js';

/** Distinct SQL texts kept prepared; texts that vary with their data (filters, pages) take turns in what is left. */
const CACHED_STATEMENTS = 500;

export function sqliteDialect(sqlite: BetterSqlite3.Database, log: StatementLog): SqliteDialect {
  return new LiteralLimitSqliteDialect({ database: new StatementCache(sqlite, log) });
}

/**
 * What Kysely's SQLite driver sees as the database: `prepare` hands out the statement prepared earlier for the same
 * text (least recently used ones are dropped beyond the bound). Kysely's driver runs one query at a time on its one
 * connection, and calls `reader`, `all`, `run` or `iterate` on the statement right after `prepare`, so a reused
 * statement behaves as a fresh one; a statement still being iterated is not handed out again. SQLite re-prepares a
 * statement by itself when the schema changes.
 */
export class StatementCache implements SqliteDatabase {
  private readonly statements = new Map<string, BetterSqlite3.Statement>();

  constructor(
    private readonly sqlite: BetterSqlite3.Database,
    private readonly log: StatementLog,
    private readonly capacity = CACHED_STATEMENTS,
  ) {}

  prepare(sql: string): BetterSqlite3.Statement {
    this.log.record(sql);
    const statements = this.statements;
    let statement = statements.get(sql);
    if (statement !== undefined) {
      if (statement.busy) return this.sqlite.prepare(sql);
      statements.delete(sql);
      statements.set(sql, statement);
      return statement;
    }
    statement = this.sqlite.prepare(sql);
    statements.set(sql, statement);
    if (statements.size > this.capacity) statements.delete(statements.keys().next().value as string);
    return statement;
  }

  /** Statements currently kept prepared. */
  get size(): number {
    return this.statements.size;
  }

  close(): void {
    this.statements.clear();
    this.sqlite.close();
  }
}

/**
 * Writes `limit 1` where Kysely would write `limit ?` and bind 1; the same for OFFSET. Only a non-negative safe
 * integer is written in; anything else stays bound, so SQLite answers it as before (a negative limit means none).
 * SQLite only: PostgreSQL has no such cost, and there a text that does not change with the page keeps one named
 * statement per query (see postgres.ts).
 */
class LiteralLimitCompiler extends SqliteQueryCompiler {
  protected override visitLimit(node: LimitNode): void {
    const count = literalCount(node.limit);
    if (count === undefined) super.visitLimit(node);
    else this.append(`limit ${count}`);
  }

  protected override visitOffset(node: OffsetNode): void {
    const count = literalCount(node.offset);
    if (count === undefined) super.visitOffset(node);
    else this.append(`offset ${count}`);
  }
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

function literalCount(node: OperationNode): string | undefined {
  if (node.kind !== 'ValueNode' || (node as ValueNode).immediate) return undefined;
  const value = (node as ValueNode).value;
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? String(value) : undefined;
  if (typeof value === 'bigint') return value >= 0n && value <= MAX_SAFE ? String(value) : undefined;
  return undefined;
}

class LiteralLimitSqliteDialect extends SqliteDialect {
  override createQueryCompiler(): QueryCompiler {
    return new LiteralLimitCompiler();
  }
}
