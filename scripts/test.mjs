#!/usr/bin/env node
// Runs every *.test.ts below the given folders or the given files (default: src and test) with node's test runner
// through tsx. Node 20's --test has no globbing of its own, hence this file.
// PostgreSQL tests get a database of their own for this run (dropped afterwards), so that nothing else on the
// server — another run, another project's tests, a clean-up of the shared `test` database — can touch their
// schemas; FLOTILLA_TEST_DATABASE_URL, when set, names the database to use instead.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';

const PG_ADMIN_URL = process.env.FLOTILLA_TEST_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

function collect(dir, out) {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules') continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) collect(path, out);
    else if (name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

async function admin(statement) {
  const client = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

/** A fresh database for this run, or undefined when PostgreSQL is not there (SQLite-only runs still work). */
async function ownDatabase() {
  if (process.env.FLOTILLA_TEST_DATABASE_URL) return undefined;
  const dialects = process.env.FLOTILLA_TEST_DIALECTS ?? 'sqlite,postgres';
  if (!dialects.includes('postgres')) return undefined;
  const name = `flotilla_test_${randomBytes(5).toString('hex')}`;
  try {
    await admin(`CREATE DATABASE ${name}`);
  } catch (error) {
    console.error(`test: no database of its own (${error.message}); PostgreSQL tests use the default`);
    return undefined;
  }
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return { name, url: url.toString() };
}

const roots = process.argv.slice(2).length ? process.argv.slice(2) : ['src', 'test'];
const files = roots.flatMap((root) => (statSync(root).isDirectory() ? collect(root, []) : [root])).sort();
const concurrency = process.env.TEST_CONCURRENCY ?? '2';
const database = await ownDatabase();
const env = database ? { ...process.env, FLOTILLA_TEST_DATABASE_URL: database.url } : process.env;
const child = spawn(
  process.execPath,
  ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...files],
  { stdio: 'inherit', env },
);
// Ctrl-C reaches the child through the terminal; a signal sent to this process alone is passed on.
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
const status = await new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0))));
if (database) {
  await admin(`DROP DATABASE IF EXISTS ${database.name} WITH (FORCE)`).catch((error) =>
    console.error(`test: could not drop ${database.name}: ${error.message}`),
  );
}
process.exit(status);
