// Runs Flotilla for an end-to-end test the way a person would: `node bin/flotilla.js serve` in a process group of
// its own, on SQLite in a temporary data directory or on a fresh PostgreSQL database, with its output in a log file.
// `stop()` kills the whole group and removes the data directory and the database, also after a failed test.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { AbortWait, type GroupProcess, killGroup, logTail, trackGroup, waitFor } from './process.js';

export type Dialect = 'sqlite' | 'postgres';

/** Where the e2e test may create and drop its own databases. */
export const PG_ADMIN_URL = process.env.FLOTILLA_E2E_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

const REPO = resolve(import.meta.dirname, '../..');

export interface FlotillaServer {
  url: string;
  dialect: Dialect;
  tenantToken: string;
  adminEmail: string;
  adminPassword: string;
  logPath: string;
  dataDir: string;
  /** The server process (it leads its own process group): for tests that signal it themselves. */
  process: GroupProcess;
  /** The PostgreSQL database, for a second server process sharing it. */
  databaseUrl?: string;
  logTail(lines?: number): string;
  stop(): Promise<void>;
}

/**
 * `env`: extra FLOTILLA_* settings for this server (e.g. FLOTILLA_MQTT_URL), applied last. `dataDir`: serve an
 * existing data directory (a restart; the caller removes it), with the credentials of `credentials`; on PostgreSQL
 * together with `sharing` (the database).
 * `sharing`: a running PostgreSQL server whose database (and tenant token and admin) this one shares, as a second
 * process of one deployment; its `stop` leaves the database to the first server.
 */
export async function startFlotilla(
  dialect: Dialect,
  options: {
    env?: Record<string, string>;
    dataDir?: string;
    credentials?: Pick<FlotillaServer, 'tenantToken' | 'adminPassword'>;
    sharing?: FlotillaServer;
    /** The port to serve on (a restart behind a load balancer that knows it); a free one otherwise. */
    port?: number;
  } = {},
): Promise<FlotillaServer> {
  if (options.dataDir && dialect !== 'sqlite' && !options.sharing)
    throw new Error("a PostgreSQL restart on the same data shares the first server's database (sharing)");
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), `flotilla-e2e-${dialect}-`));
  const logPath = join(dataDir, 'flotilla.log');
  const port = options.port ?? (await freePort());
  const shared = options.sharing;
  if (shared && (dialect !== 'postgres' || !shared.databaseUrl)) throw new Error('only PostgreSQL servers share');
  const credentials = shared ?? options.credentials;
  const tenantToken = credentials?.tenantToken ?? `e2e-tenant-${randomBytes(12).toString('hex')}`;
  const adminEmail = 'admin@e2e.example.com';
  const adminPassword = credentials?.adminPassword ?? `pw-${randomBytes(9).toString('hex')}`;
  const database = shared
    ? { url: shared.databaseUrl!, drop: async () => undefined }
    : dialect === 'postgres'
      ? await createDatabase()
      : undefined;

  // Only our own FLOTILLA_* settings reach the server: a developer's shell must not change what is tested.
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && !name.startsWith('FLOTILLA_')) env[name] = value;
  }
  Object.assign(env, {
    FLOTILLA_ADMIN_EMAIL: adminEmail,
    FLOTILLA_ADMIN_PASSWORD: adminPassword,
    FLOTILLA_TENANT_TOKEN: tenantToken,
    FLOTILLA_HOST: '127.0.0.1',
    // The embedded MQTT broker on a free port: Mosquitto holds 1883 on test machines.
    FLOTILLA_MQTT_PORT: '0',
    FLOTILLA_LOG_LEVEL: process.env.FLOTILLA_E2E_SERVER_LOG ?? 'warn',
    ...(database ? { FLOTILLA_DATABASE_URL: database.url } : {}),
    ...options.env,
  });

  const logFd = openSync(logPath, 'a');
  let child: ChildProcess;
  try {
    child = spawn(process.execPath, ['bin/flotilla.js', 'serve', '--port', String(port), '--data', dataDir], {
      cwd: REPO,
      env,
      detached: true,
      stdio: ['ignore', logFd, logFd],
    });
  } finally {
    closeSync(logFd);
  }
  const group = trackGroup(child, 'flotilla');
  const url = `http://127.0.0.1:${port}`;

  const cleanup = async () => {
    await killGroup(group);
    if (database) await database.drop();
    if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    await waitUntilAnswering(url, group, logPath);
  } catch (error) {
    process.stderr.write(`--- flotilla log (${dialect}) ---\n${logTail(logPath, 60)}\n`);
    await cleanup();
    throw error;
  }
  return {
    url,
    dialect,
    tenantToken,
    adminEmail,
    adminPassword,
    logPath,
    dataDir,
    process: group,
    databaseUrl: database?.url,
    logTail: (lines = 60) => logTail(logPath, lines),
    stop: cleanup,
  };
}

async function waitUntilAnswering(url: string, group: GroupProcess, logPath: string): Promise<void> {
  await waitFor(
    'Flotilla to answer HTTP',
    async () => {
      if (group.exited) throw new AbortWait(`flotilla exited early (${group.exited}):\n${logTail(logPath, 40)}`);
      try {
        const res = await fetch(`${url}/api/openapi.json`);
        await res.arrayBuffer();
        return true;
      } catch {
        return undefined;
      }
    },
    { timeoutMs: 60_000, intervalMs: 200 },
  );
}

/** A TCP port free on 127.0.0.1 now. */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

async function adminQuery(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: PG_ADMIN_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

async function createDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `flotilla_e2e_${randomBytes(6).toString('hex')}`;
  await adminQuery(`CREATE DATABASE ${name}`);
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    // FORCE: a server killed mid-query may leave a connection behind for a moment.
    drop: () => adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}

export interface ApiAnswer {
  status: number;
  /** The body parsed as JSON when it is JSON, else its text (undefined when empty). */
  // biome-ignore lint/suspicious/noExplicitAny: e2e tests read many shapes; each asserts what it relies on
  json: any;
  headers: Headers;
}

/** Calls Flotilla's HTTP API as the holder of `token`, with a JSON body when one is given. */
export async function callApi(
  baseUrl: string,
  token: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<ApiAnswer> {
  const res = await fetch(`${baseUrl}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json: unknown = text;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, json, headers: res.headers };
}
