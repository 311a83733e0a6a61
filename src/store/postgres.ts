// PostgreSQL as the store runs it under Kysely: queries go out as named prepared statements, so that each pooled
// connection parses a query once and can keep its plan. Kysely + pg send every query unnamed, parsed and planned at
// every run: PostgreSQL's CPU per device poll went from about 600 to 200 µs named (research/performance.md 1.4).
// After five runs PostgreSQL may switch a statement to a generic plan, made without the parameters' values; a
// query whose best plan depends on them (skewed columns) is one to watch in EXPLAIN.
import { createHash } from 'node:crypto';
import { type PostgresCursor, PostgresDialect, type PostgresPool, type PostgresQueryResult } from 'kysely';
import type pg from 'pg';
import { Unavailable } from '../errors.js';
import type { StatementLog } from './statement-log.js';

/**
 * Prepared statements a connection keeps at most; later texts go unnamed. PostgreSQL holds each statement's plan
 * in the backend's memory until the connection closes.
 */
const NAMED_PER_CONNECTION = 250;
/** SQL texts remembered across connections (with their names), forgotten all at once beyond this. */
const KNOWN_TEXTS = 2000;
/** Only plain statements are named: no transaction control, DDL or settings, and nothing with a `;` in it. */
const NAMEABLE = /^\s*(select|insert|update|delete|with)\b/i;
const BEGIN = /^\s*(begin|start\s+transaction)\b/i;
/** `rollback to <savepoint>` leaves the transaction open. */
const END = /^\s*(commit|end|abort|rollback(?!\s+to\b))\b/i;

export function postgresDialect(pool: pg.Pool, log: StatementLog): PostgresDialect {
  return new PostgresDialect({ pool: new NamedStatementPool(pool, log) });
}

interface KnownText {
  /** null: never named. */
  name: string | null | undefined;
  seen: number;
}

/** The pool as Kysely's driver sees it: each pg client comes wrapped, one wrapper per client for its life. */
export class NamedStatementPool implements PostgresPool {
  private readonly clients = new WeakMap<pg.PoolClient, NamingClient>();
  private readonly texts = new Map<string, KnownText>();

  constructor(
    private readonly pool: pg.Pool,
    readonly log: StatementLog,
    readonly namedPerConnection = NAMED_PER_CONNECTION,
  ) {}

  async connect(): Promise<NamingClient> {
    const client = await this.pool.connect();
    let wrapper = this.clients.get(client);
    if (wrapper === undefined) {
      wrapper = new NamingClient(client, this);
      this.clients.set(client, wrapper);
    }
    return wrapper;
  }

  end(): Promise<void> {
    return this.pool.end();
  }

  /**
   * The statement name for a SQL text: derived from its hash, so that a text gets the same name on every connection
   * and after being forgotten. A text is named from its second run on: dynamic one-off queries (filters, DDL of
   * migrations) would otherwise use up each connection's names.
   */
  nameFor(text: string): string | undefined {
    let known = this.texts.get(text);
    if (known === undefined) {
      if (this.texts.size >= KNOWN_TEXTS) this.texts.clear();
      known = { name: NAMEABLE.test(text) && !text.includes(';') ? undefined : null, seen: 0 };
      this.texts.set(text, known);
    }
    if (known.name === null || ++known.seen < 2) return undefined;
    known.name ??= `flotilla_${createHash('sha1').update(text).digest('hex')}`;
    return known.name;
  }
}

/**
 * One pooled connection. It remembers the names it has prepared (pg skips the parse of a name it has seen on the
 * connection). When a named statement fails in a way that leaves the connection's prepared statements in doubt, the
 * connection stops naming: "cached plan must not change result type" after another process altered a table under a
 * `select *`, or an error before the query reached the server. Such a statement outside a transaction is retried
 * unnamed, as nothing of it ran.
 */
class NamingClient {
  private readonly named = new Set<string>();
  private naming = true;
  private inTransaction = false;

  constructor(
    private readonly client: pg.PoolClient,
    private readonly pool: NamedStatementPool,
  ) {}

  query<R>(sql: string, parameters: ReadonlyArray<unknown>): Promise<PostgresQueryResult<R>>;
  query<R>(cursor: PostgresCursor<R>): PostgresCursor<R>;
  // biome-ignore lint/suspicious/noExplicitAny: pg's overloads, passed through
  query(textOrCursor: any, parameters?: ReadonlyArray<unknown>): any {
    if (typeof textOrCursor !== 'string') return this.client.query(textOrCursor);
    const text = textOrCursor;
    const values = parameters as unknown[];
    this.pool.log.record(text);
    const name = this.naming ? this.nameOnConnection(text) : undefined;
    if (name === undefined) {
      this.trackTransaction(text);
      return this.client.query(text, values).catch(rethrow);
    }
    return this.client
      .query({ name, text, values })
      .catch((error: unknown) => {
        if (!leavesNamesInDoubt(error)) throw error;
        this.naming = false;
        if (this.inTransaction || !isStaleStatement(error)) throw error;
        return this.client.query(text, values);
      })
      .catch(rethrow);
  }

  release(): void {
    this.client.release();
  }

  private nameOnConnection(text: string): string | undefined {
    const name = this.pool.nameFor(text);
    if (name === undefined || this.named.has(name)) return name;
    if (this.named.size >= this.pool.namedPerConnection) return undefined;
    this.named.add(name);
    return name;
  }

  /** Whether a transaction is open, from the transaction control that went by (never named). */
  private trackTransaction(text: string): void {
    if (BEGIN.test(text)) this.inTransaction = true;
    else if (END.test(text)) this.inTransaction = false;
  }
}

/**
 * A statement cancelled by `statement_timeout` (SQLSTATE 57014) becomes a 503 the API families answer in their own
 * shape, not a 500: the request was too costly to finish in time, nothing of it was written (its transaction rolls
 * back), and the caller may narrow it or retry.
 */
function rethrow(error: unknown): never {
  if ((error as { code?: unknown } | undefined)?.code === '57014') {
    throw new Unavailable('the query took longer than the database statement timeout allows; narrow it or retry');
  }
  throw error;
}

/** A server error carries a five-character SQLSTATE; anything else happened in pg or on the wire. */
function leavesNamesInDoubt(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code !== 'string' || !/^[0-9A-Z]{5}$/.test(code) || isStaleStatement(error);
}

/** The statement is missing on the server, or its plan no longer fits the table: nothing of it ran. */
function isStaleStatement(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  return code === '26000' || (code === '0A000' && typeof message === 'string' && message.includes('cached plan'));
}
