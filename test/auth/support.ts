// Helpers for the hot-path tests: a second server process on the same database, and a count of the SQL statements
// an app runs (until the store counts them itself).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { type CompiledQuery, type Kysely, sql } from 'kysely';
import { buildApp } from '../../src/app.js';
import type { Tables } from '../../src/store/schema.js';
import type { TestApp } from '../support/app.js';

/**
 * Another server process on `t`'s database: the same PostgreSQL schema, or the same SQLite file (a second
 * connection, as a second process would open it). Close it before `t`.
 */
export async function secondProcess(t: TestApp): Promise<{ app: FastifyInstance; close(): Promise<void> }> {
  if (t.dialect === 'sqlite') {
    const app = await buildApp(t.config);
    await app.ready();
    return { app, close: () => app.close() };
  }
  const { rows } = await sql<{ schema: string }>`select current_schema() as schema`.execute(t.services.store.db);
  const dataDir = mkdtempSync(join(tmpdir(), 'flotilla-second-'));
  const app = await buildApp({ ...t.config, dataDir }, { pgSchema: rows[0].schema });
  await app.ready();
  return {
    app,
    async close() {
      await app.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

type Executor = { executeQuery(query: CompiledQuery, ...rest: unknown[]): Promise<unknown> };

/**
 * Records the SQL of every statement run through any Kysely instance of this test process (the executor's
 * prototype is shared, transactions included) until `stop`.
 */
export function recordStatements(db: Kysely<Tables>): { statements: string[]; stop(): void } {
  let proto = Object.getPrototypeOf(db.getExecutor()) as Executor | null;
  while (proto && !Object.hasOwn(proto, 'executeQuery')) proto = Object.getPrototypeOf(proto);
  if (!proto) throw new Error('no executeQuery on the executor');
  const owner = proto;
  const original = owner.executeQuery;
  const statements: string[] = [];
  owner.executeQuery = function (this: Executor, query: CompiledQuery, ...rest: unknown[]) {
    statements.push(query.sql);
    return original.call(this, query, ...rest);
  };
  return {
    statements,
    stop() {
      owner.executeQuery = original;
    },
  };
}

/** Statements that read or write the tables behind authentication: tokens, devices, users, tenants. */
export function authStatements(statements: string[]): string[] {
  return statements.filter((s) => /"(device_tokens|devices|auth_sets|user_tokens|users|tenants)"/.test(s));
}
