// Helpers for the hot-path tests: a second server process on the same database, and which traced statements touch
// the tables behind authentication.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { buildApp } from '../../src/app.js';
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

/** Statements that read or write the tables behind authentication: tokens, devices, users, tenants. */
export function authStatements(statements: string[]): string[] {
  return statements.filter((s) => /"(device_tokens|devices|auth_sets|user_tokens|users|tenants)"/.test(s));
}
