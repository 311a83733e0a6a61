// A large fleet for the benchmarks, seeded straight into the store with bulk inserts (admitting 100k devices
// through the API would take longer than the benchmarks themselves): accepted devices with an auth set and
// inventory, every `groupEvery`-th one in a static group, and device JWTs for a sample of them, signed with the
// server's own key and recorded in device_tokens exactly as an admission would. More devices can be given tokens
// later (`mintTokens`), while the server runs: the real-fleet poll needs one device per request.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from 'kysely';
import pg from 'pg';
import { prepareStore } from '../src/app.js';
import { TokenIssuer } from '../src/auth/tokens.js';
import { defaultConfig } from '../src/config.js';
import type { AuthSetTable, DeviceTable, DeviceTokenTable } from '../src/devices/tables.js';
import type { AttributeTable } from '../src/inventory/tables.js';
import { openStore, type Store } from '../src/store/db.js';
import { type DeviceTokenSpec, signDeviceTokens } from './tokens.js';

export type Dialect = 'sqlite' | 'postgres';

/** Where the benchmark may create and drop its own PostgreSQL databases. */
export const PG_ADMIN_URL = process.env.FLOTILLA_BENCH_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export const BENCH_DEVICE_TYPE = 'bench-device';
export const BENCH_INSTALLED = 'bench-0';
export const BENCH_GROUP = 'bench-group';

export interface FleetOptions {
  devices: number;
  /** Device JWTs to sign, spread evenly over the fleet. */
  tokens: number;
  /** Every groupEvery-th device is in BENCH_GROUP. */
  groupEvery: number;
  /**
   * The devices last checked in this many minutes before seeding (as a fleet polling at that interval would have);
   * absent: never (their first poll also copies the check-in time to inventory, as a new device's does).
   */
  checkedInMinutesAgo?: number;
}

export interface Fleet {
  dialect: Dialect;
  dataDir: string;
  /** Empty for SQLite in dataDir. */
  databaseUrl: string;
  tenantId: string;
  adminEmail: string;
  adminPassword: string;
  devices: number;
  groupSize: number;
  /** Device JWTs of the sample, spread evenly over the fleet. */
  tokens: string[];
  seedSeconds: number;
  /**
   * Gives `count` more devices (outside the sample, spread over the fleet) a device JWT each, through the
   * benchmark's own connection; resolves with the tokens. Each device gets at most one in the fleet's life.
   */
  mintTokens(count: number): Promise<{ tokens: string[]; deviceIds: string[] }>;
  /** Devices that have no token yet (what mintTokens can still give out). */
  untokened(): number;
  /** Opens the fleet's store (the benchmark's own connection, next to the server's). */
  open(): Promise<Store>;
  /** Drops the PostgreSQL database (the data directory is the caller's). */
  drop(): Promise<void>;
}

async function adminQuery(statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: PG_ADMIN_URL });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

/** Every PostgreSQL database this process created (the smoke test checks that none is left). */
export const createdDatabases: string[] = [];

async function createDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `flotilla_bench_${randomBytes(6).toString('hex')}`;
  await adminQuery(`CREATE DATABASE ${name}`);
  createdDatabases.push(name);
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    // FORCE: the server may have been killed with a connection still open.
    drop: () => adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}

/**
 * Inserts rows in chunks (SQLite's bound-variable limit, PostgreSQL's 65535 parameters). The rows are built
 * with their table's type below; one helper for the four tables needs the cast.
 */
async function insertChunks<T extends 'devices' | 'auth_sets' | 'attributes' | 'device_tokens'>(
  store: Store,
  table: T,
  rows: unknown[],
  chunk: number,
): Promise<void> {
  await store.transaction(async (trx) => {
    for (let i = 0; i < rows.length; i += chunk) {
      await trx
        .insertInto(table)
        .values(rows.slice(i, i + chunk) as never)
        .execute();
    }
  });
}

const macOf = (i: number) =>
  `02:${[24, 16, 8, 0].map((shift) => ((i >>> shift) & 0xff).toString(16).padStart(2, '0')).join(':')}:00`;

export async function seedFleet(dialect: Dialect, dataDir: string, options: FleetOptions): Promise<Fleet> {
  mkdirSync(dataDir, { recursive: true });
  const database = dialect === 'postgres' ? await createDatabase() : undefined;
  const adminEmail = 'bench@example.com';
  const adminPassword = 'bench-password';
  const config = {
    ...defaultConfig(),
    dataDir,
    databaseUrl: database?.url ?? '',
    adminEmail,
    adminPassword,
    logLevel: 'warn',
  };
  // Only the connection: prepareStore would also tidy the blob folder under the running server.
  const open = () => openStore({ databaseUrl: config.databaseUrl, dataDir });
  try {
    const start = process.hrtime.bigint();
    const { store, services } = await prepareStore(config);
    let tenantId: string;
    let tokens: string[] = [];
    let groupSize = 0;
    const devices: DeviceTable[] = [];
    const authSets: AuthSetTable[] = [];
    /** Indexes into `devices` of those that have a token. */
    const tokened = new Set<number>();
    const expires = new Date(Date.now() + 7 * 24 * 3600_000);
    try {
      tenantId = (await services.tenants.getDefault()).id;
      const ts = new Date().toISOString();
      const checkIn =
        options.checkedInMinutesAgo === undefined
          ? null
          : new Date(Date.now() - options.checkedInMinutesAgo * 60_000).toISOString();
      const attributes: AttributeTable[] = [];
      // One key for all: the auth set's key is only read again when the device authenticates, which these don't.
      const pubkey = '-----BEGIN PUBLIC KEY-----\nbench\n-----END PUBLIC KEY-----\n';
      const attr = (deviceId: string, scope: AttributeTable['scope'], name: string, value: string): AttributeTable => ({
        tenant_id: tenantId,
        device_id: deviceId,
        scope,
        name,
        idx: 0,
        value_str: value,
        value_num: null,
        value_bool: null,
        is_array: 0,
        description: null,
        updated_ts: ts,
      });
      for (let i = 0; i < options.devices; i++) {
        const id = randomUUID();
        const mac = macOf(i);
        const identity = JSON.stringify({ mac });
        devices.push({
          tenant_id: tenantId,
          id,
          status: 'accepted',
          identity_json: identity,
          identity_hash: createHash('sha256').update(identity).digest('hex'),
          decommissioning: 0,
          created_ts: ts,
          updated_ts: ts,
          check_in_ts: checkIn,
        });
        authSets.push({
          tenant_id: tenantId,
          id: randomUUID(),
          device_id: id,
          identity_json: identity,
          pubkey,
          status: 'accepted',
          created_ts: ts,
        });
        attributes.push(
          attr(id, 'identity', 'mac', mac),
          attr(id, 'inventory', 'device_type', BENCH_DEVICE_TYPE),
          attr(id, 'inventory', 'artifact_name', BENCH_INSTALLED),
        );
        if (i % options.groupEvery === 0) {
          attributes.push(attr(id, 'system', 'group', BENCH_GROUP));
          groupSize++;
        }
      }
      await insertChunks(store, 'devices', devices, 1000);
      await insertChunks(store, 'auth_sets', authSets, 1000);
      await insertChunks(store, 'attributes', attributes, 1000);

      const step = Math.max(1, Math.floor(options.devices / Math.max(1, options.tokens)));
      const sample: number[] = [];
      for (let i = 0; i < options.devices && sample.length < options.tokens; i += step) sample.push(i);
      tokens = await giveTokens(store, tenantId, devices, authSets, sample, expires);
      for (const i of sample) tokened.add(i);
      // Planner statistics, as a database that has been running has them (PostgreSQL's autovacuum gathers them on
      // its own, SQLite when `PRAGMA optimize` runs). Without them SQLite walks the group's value index for every
      // device in a group EXISTS, and a group deployment over 100k devices takes more than 15 minutes.
      await sql`analyze`.execute(store.db);
    } finally {
      await store.close();
    }
    return {
      dialect,
      dataDir,
      databaseUrl: database?.url ?? '',
      tenantId,
      adminEmail,
      adminPassword,
      devices: options.devices,
      groupSize,
      tokens,
      seedSeconds: Number(process.hrtime.bigint() - start) / 1e9,
      mintTokens: async (count) => {
        const chosen = spread(devices.length, tokened, count);
        const store = await open();
        try {
          const minted = await giveTokens(store, tenantId, devices, authSets, chosen, expires);
          for (const i of chosen) tokened.add(i);
          return { tokens: minted, deviceIds: chosen.map((i) => devices[i].id) };
        } finally {
          await store.close();
        }
      },
      untokened: () => devices.length - tokened.size,
      open,
      drop: async () => {
        await database?.drop();
      },
    };
  } catch (error) {
    await database?.drop();
    throw error;
  }
}

/** Device JWTs for the devices at `indexes`, recorded in device_tokens as an admission would record them. */
async function giveTokens(
  store: Store,
  tenantId: string,
  devices: DeviceTable[],
  authSets: AuthSetTable[],
  indexes: number[],
  expires: Date,
): Promise<string[]> {
  const ts = new Date().toISOString();
  const specs: DeviceTokenSpec[] = indexes.map((i) => ({ deviceId: devices[i].id, tokenId: randomUUID() }));
  const rows: DeviceTokenTable[] = indexes.map((i, n) => ({
    tenant_id: tenantId,
    id: specs[n].tokenId,
    device_id: devices[i].id,
    auth_set_id: authSets[i].id,
    created_ts: ts,
    expires_ts: expires.toISOString(),
  }));
  const tokens = await signDeviceTokens(store, await TokenIssuer.load(store), tenantId, expires, specs);
  await insertChunks(store, 'device_tokens', rows, 1000);
  return tokens;
}

/** `count` indexes below `size` that are not in `taken`, spread evenly over the range. */
function spread(size: number, taken: Set<number>, count: number): number[] {
  const free: number[] = [];
  for (let i = 0; i < size; i++) if (!taken.has(i)) free.push(i);
  if (count > free.length) throw new Error(`only ${free.length} devices have no token yet, ${count} wanted`);
  const step = free.length / count;
  return Array.from({ length: count }, (_, n) => free[Math.floor(n * step)]);
}

/** The environment `flotilla serve` needs to serve this fleet. */
export function fleetEnv(fleet: Fleet): Record<string, string> {
  return {
    FLOTILLA_ADMIN_EMAIL: fleet.adminEmail,
    FLOTILLA_ADMIN_PASSWORD: fleet.adminPassword,
    ...(fleet.databaseUrl ? { FLOTILLA_DATABASE_URL: fleet.databaseUrl } : {}),
  };
}

export const fleetDataDir = (work: string, dialect: Dialect) => join(work, `fleet-${dialect}`);
