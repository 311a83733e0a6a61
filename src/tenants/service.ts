// Tenants: lookup by id, Mender tenant token and hawkBit name; the default tenant is made at first start.
// Tenant rows change rarely and are read on hot paths (device auth, every DDI request), so lookups answer from
// memory, "no such tenant" included, while the revocation feed is fresh. Every change and every new tenant goes
// through the feed: this process forgets the old row at commit, every other one within the feed's bound
// (STALE_AFTER_MS, 2 s; see src/auth/revocations.ts). Without a feed (tools, tests of the store) nothing is cached.
import { randomBytes, randomUUID } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import type { RevocationFeed } from '../auth/revocations.js';
import { Conflict, Invalid, NotFound } from '../errors.js';
import { isUniqueViolation } from '../store/constraints.js';
import type { Store } from '../store/db.js';
import { now } from '../store/db.js';
import type { Tables } from '../store/schema.js';
import type { TenantTable } from './tables.js';

export type Tenant = Omit<TenantTable, 'max_devices' | 'storage_limit' | 'artifact_keys_json'> & {
  max_devices: number;
  storage_limit: number;
  artifact_keys_json: string;
};

/** How a lookup names a tenant. */
type LookupKey = `id:${string}` | `token:${string}` | `name:${string}` | 'default';

/** Past this many remembered misses (someone trying tokens), they are all forgotten. */
const MAX_UNKNOWN = 10_000;

export class TenantService {
  /** Tenant rows by id, frozen: every caller gets the same object. */
  private readonly rows = new Map<string, Tenant>();
  /** Token, hawkBit name and `default` → tenant id; checked against the row on every hit. */
  private readonly ids = new Map<LookupKey, string>();
  /** Lookups known to find no tenant. */
  private readonly unknown = new Set<LookupKey>();

  constructor(
    private readonly store: Store,
    private readonly feed?: RevocationFeed,
  ) {
    feed?.subscribe((batch) => {
      if (batch === null) {
        this.rows.clear();
        this.ids.clear();
      }
      for (const r of batch ?? []) if (r.kind === 'tenant') this.rows.delete(r.id);
      if (batch === null || batch.some((r) => r.kind === 'tenant')) this.unknown.clear();
    });
  }

  /** The cached answer to a lookup, or the database's (remembered unless something changed meanwhile). */
  private async lookup(key: LookupKey, query: () => Promise<Tenant | undefined>): Promise<Tenant | undefined> {
    const feed = this.feed;
    if (!feed?.fresh()) return query();
    const id = key.startsWith('id:') ? key.slice(3) : this.ids.get(key);
    const row = id === undefined ? undefined : this.rows.get(id);
    if (row && matches(row, key)) return row;
    if (this.unknown.has(key)) return undefined;
    const generation = feed.generation;
    const found = await query();
    if (feed.generation !== generation) return found;
    if (!found) {
      if (this.unknown.size >= MAX_UNKNOWN) this.unknown.clear();
      this.unknown.add(key);
      return undefined;
    }
    const frozen = Object.freeze({ ...found });
    this.rows.set(frozen.id, frozen);
    this.ids.set(`token:${frozen.tenant_token}`, frozen.id);
    this.ids.set(`name:${frozen.hawkbit_name}`, frozen.id);
    if (frozen.is_default) this.ids.set('default', frozen.id);
    return frozen;
  }

  /** A write to tenants; other processes hear of it through the feed. */
  private async change(tenantId: string, work: (db: Kysely<Tables> | Transaction<Tables>) => Promise<void>) {
    if (!this.feed) return work(this.store.db);
    await this.feed.transaction(async (trx, revoke) => {
      await work(trx);
      revoke({ kind: 'tenant', tenantId, id: tenantId });
    });
  }

  /** Creates the default tenant if there is none; safe when several processes start at once. */
  async ensureDefault(name: string, token: string): Promise<Tenant> {
    const existing = await this.store.db
      .selectFrom('tenants')
      .selectAll()
      .where('is_default', '=', 1)
      .executeTakeFirst();
    if (existing) return existing;
    const id = randomUUID();
    await this.change(id, async (db) => {
      await db
        .insertInto('tenants')
        .values({
          id,
          name,
          tenant_token: token || randomBytes(32).toString('base64url'),
          hawkbit_name: 'DEFAULT',
          is_default: 1,
          created_ts: now(),
        })
        .onConflict((oc) => oc.doNothing())
        .execute();
    });
    return this.store.db.selectFrom('tenants').selectAll().where('is_default', '=', 1).executeTakeFirstOrThrow();
  }

  /**
   * Creates a tenant with its own Mender tenant token and hawkBit tenant name (the name in capitals, as hawkBit
   * writes tenants; DDI paths match it in any case). Names are unique ignoring case, because the hawkBit name is.
   * `also` runs in the same transaction (the first admin user): a failure there leaves no tenant behind.
   */
  async add(
    spec: { name: string; maxDevices?: number; storageLimit?: number },
    also?: (trx: Transaction<Tables>, tenant: Tenant) => Promise<void>,
  ): Promise<Tenant> {
    const name = checkTenantName(spec.name);
    const tenant: Tenant = {
      id: randomUUID(),
      name,
      tenant_token: randomBytes(32).toString('base64url'),
      hawkbit_name: name.toUpperCase(),
      is_default: 0,
      max_devices: checkLimit(spec.maxDevices ?? 0, 'max_devices'),
      storage_limit: checkLimit(spec.storageLimit ?? 0, 'storage_limit'),
      artifact_keys_json: '[]',
      created_ts: now(),
    };
    const write = async (trx: Transaction<Tables>, revoke?: (id: string) => void) => {
      const taken = await trx
        .selectFrom('tenants')
        .select('id')
        .where((eb) => eb.or([eb('hawkbit_name', '=', tenant.hawkbit_name), eb('id', '=', name)]))
        .executeTakeFirst();
      if (taken) throw new Conflict(`a tenant named ${name} exists already`);
      await trx.insertInto('tenants').values(tenant).execute();
      revoke?.(tenant.id);
      await also?.(trx, tenant);
    };
    try {
      if (this.feed) {
        await this.feed.transaction((trx, revoke) => write(trx, (id) => revoke({ kind: 'tenant', tenantId: id, id })));
      } else {
        await this.store.transaction((trx) => write(trx));
      }
    } catch (error) {
      if (isUniqueViolation(error)) throw new Conflict(`a tenant named ${name} exists already`);
      throw error;
    }
    return tenant;
  }

  /** A tenant with the hawkBit name given, unchecked: for tests that need several tenants quickly. */
  async create(name: string, hawkbitName: string): Promise<Tenant> {
    const tenant = {
      id: randomUUID(),
      name,
      tenant_token: randomBytes(32).toString('base64url'),
      hawkbit_name: hawkbitName,
      is_default: 0,
      max_devices: 0,
      storage_limit: 0,
      artifact_keys_json: '[]',
      created_ts: now(),
    };
    await this.change(tenant.id, async (db) => {
      await db.insertInto('tenants').values(tenant).execute();
    });
    return tenant;
  }

  /** Every tenant, the default one first, then by creation. Server-level: for operators, never for a tenant's users. */
  async list(): Promise<Tenant[]> {
    return this.store.db
      .selectFrom('tenants')
      .selectAll()
      .orderBy('is_default', 'desc')
      .orderBy('created_ts')
      .orderBy('id')
      .execute();
  }

  /** A tenant by id or by name (any case), as operators name them on the command line and the operator API. */
  async find(idOrName: string): Promise<Tenant | undefined> {
    return (await this.byId(idOrName)) ?? (await this.byHawkbitName(idOrName.toUpperCase()));
  }

  /** Sets the limits given (0: none); the others stay. Answers the tenant as it is now. */
  async setLimits(id: string, limits: { maxDevices?: number; storageLimit?: number }): Promise<Tenant> {
    const set: { max_devices?: number; storage_limit?: number } = {};
    if (limits.maxDevices !== undefined) set.max_devices = checkLimit(limits.maxDevices, 'max_devices');
    if (limits.storageLimit !== undefined) set.storage_limit = checkLimit(limits.storageLimit, 'storage_limit');
    if (Object.keys(set).length > 0) {
      await this.change(id, async (db) => {
        await db.updateTable('tenants').set(set).where('id', '=', id).execute();
      });
    }
    const tenant = await this.store.db.selectFrom('tenants').selectAll().where('id', '=', id).executeTakeFirst();
    if (!tenant) throw new NotFound('tenant not found');
    return tenant;
  }

  byId(id: string): Promise<Tenant | undefined> {
    return this.lookup(`id:${id}`, () =>
      this.store.db.selectFrom('tenants').selectAll().where('id', '=', id).executeTakeFirst(),
    );
  }

  byToken(token: string): Promise<Tenant | undefined> {
    return this.lookup(`token:${token}`, () =>
      this.store.db.selectFrom('tenants').selectAll().where('tenant_token', '=', token).executeTakeFirst(),
    );
  }

  byHawkbitName(name: string): Promise<Tenant | undefined> {
    return this.lookup(`name:${name}`, () =>
      this.store.db.selectFrom('tenants').selectAll().where('hawkbit_name', '=', name).executeTakeFirst(),
    );
  }

  async getDefault(): Promise<Tenant> {
    const tenant = await this.lookup('default', () =>
      this.store.db.selectFrom('tenants').selectAll().where('is_default', '=', 1).executeTakeFirst(),
    );
    if (!tenant) throw new Error('there is no default tenant');
    return tenant;
  }

  /** The public keys uploaded artifacts must be signed with (none: signatures are recorded, not required). */
  artifactKeys(tenant: Tenant): string[] {
    return JSON.parse(tenant.artifact_keys_json) as string[];
  }

  async setArtifactKeys(id: string, pems: string[]): Promise<void> {
    await this.change(id, async (db) => {
      await db
        .updateTable('tenants')
        .set({ artifact_keys_json: JSON.stringify(pems) })
        .where('id', '=', id)
        .execute();
    });
  }

  /** Bytes of artifact storage the tenant may use; 0 means no limit. */
  async setStorageLimit(id: string, bytes: number): Promise<void> {
    await this.change(id, async (db) => {
      await db.updateTable('tenants').set({ storage_limit: bytes }).where('id', '=', id).execute();
    });
  }

  async setMaxDevices(id: string, max: number): Promise<void> {
    await this.change(id, async (db) => {
      await db.updateTable('tenants').set({ max_devices: max }).where('id', '=', id).execute();
    });
  }
}

/** Tenant names appear in DDI paths and Kanto usernames: letters, digits, `.`, `_`, `-`; never an id's shape. */
export function checkTenantName(name: unknown): string {
  if (typeof name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(name)) {
    throw new Invalid('tenant name: 1 to 63 letters, digits, ".", "_" or "-", starting with a letter or digit');
  }
  // DDI and Kanto find a tenant by name, then by id: a name shaped like an id could shadow another tenant.
  if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(name)) {
    throw new Invalid('tenant name: must not look like a tenant id');
  }
  return name;
}

function checkLimit(value: number, what: string): number {
  if (!Number.isSafeInteger(value) || value < 0) throw new Invalid(`${what}: a whole number, 0 or more (0: no limit)`);
  return value;
}

/** A cached row answers a lookup only if it still has what the lookup asked by (names could change one day). */
function matches(row: Tenant, key: LookupKey): boolean {
  if (key.startsWith('token:')) return row.tenant_token === key.slice(6);
  if (key.startsWith('name:')) return row.hawkbit_name === key.slice(5);
  if (key === 'default') return row.is_default === 1;
  return true;
}
