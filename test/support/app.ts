// Builds a Flotilla app for a test on one SQL dialect: SQLite in a temporary data directory, or PostgreSQL in a
// schema of its own (dropped afterwards). Every store test runs once per dialect in `dialects`.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { buildApp } from '../../src/app.js';
import { type Config, defaultConfig } from '../../src/config.js';
import type { Services } from '../../src/services.js';
import type { Tenant } from '../../src/tenants/service.js';

export type Dialect = 'sqlite' | 'postgres';

export const TEST_PG_URL = process.env.FLOTILLA_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Both dialects unless FLOTILLA_TEST_DIALECTS narrows them (e.g. `sqlite` for a quick local run). */
export const dialects: Dialect[] = (process.env.FLOTILLA_TEST_DIALECTS ?? 'sqlite,postgres')
  .split(',')
  .map((d) => d.trim())
  .filter((d): d is Dialect => d === 'sqlite' || d === 'postgres');

export interface TestApp {
  app: FastifyInstance;
  services: Services;
  tenant: Tenant;
  config: Config;
  dialect: Dialect;
  /** PostgreSQL schema of this app's tables: a second app on it plays a second server process. */
  pgSchema?: string;
  close(): Promise<void>;
}

export async function testApp(dialect: Dialect, overrides: Partial<Config> = {}): Promise<TestApp> {
  const dataDir = mkdtempSync(join(tmpdir(), 'flotilla-test-'));
  const schema = `t_${randomBytes(6).toString('hex')}`;
  const config: Config = {
    ...defaultConfig(),
    port: 0,
    host: '127.0.0.1',
    dataDir,
    databaseUrl: dialect === 'postgres' ? TEST_PG_URL : '',
    logLevel: process.env.FLOTILLA_TEST_LOG ?? 'silent',
    rateLimit: { max: 0, windowMs: 60_000 },
    // No MQTT broker unless a test asks for one (Mosquitto holds 1883 on test machines).
    mqttPort: 'off',
    ...overrides,
  };
  const app = await buildApp(config, dialect === 'postgres' ? { pgSchema: schema } : {});
  const tenant = await app.services.tenants.getDefault();
  return {
    app,
    services: app.services,
    tenant,
    config,
    dialect,
    pgSchema: dialect === 'postgres' ? schema : undefined,
    async close() {
      await app.close();
      rmSync(dataDir, { recursive: true, force: true });
      if (dialect === 'postgres') await dropSchema(schema);
    },
  };
}

async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: TEST_PG_URL });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  } finally {
    await client.end();
  }
}

/** Creates a user in the default tenant and logs in; returns the JWT. */
export async function adminToken(t: TestApp, email = 'admin@example.com', password = 'correct-horse'): Promise<string> {
  await t.services.users.create(t.tenant.id, email, password).catch(() => undefined);
  const res = await t.app.inject({
    method: 'POST',
    url: '/api/management/v1/useradm/auth/login',
    headers: { authorization: `Basic ${Buffer.from(`${email}:${password}`).toString('base64')}` },
  });
  if (res.statusCode !== 200) throw new Error(`login failed: ${res.statusCode} ${res.body}`);
  return res.body;
}
