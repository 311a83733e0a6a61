// Tenants: lookup by id, Mender tenant token and hawkBit name; the default tenant is made at first start.
import { randomBytes, randomUUID } from 'node:crypto';
import type { Store } from '../store/db.js';
import { now } from '../store/db.js';
import type { TenantTable } from './tables.js';

export type Tenant = Omit<TenantTable, 'max_devices' | 'storage_limit' | 'artifact_keys_json'> & {
  max_devices: number;
  storage_limit: number;
  artifact_keys_json: string;
};

export class TenantService {
  constructor(private readonly store: Store) {}

  /** Creates the default tenant if there is none; safe when several processes start at once. */
  async ensureDefault(name: string, token: string): Promise<Tenant> {
    const existing = await this.store.db
      .selectFrom('tenants')
      .selectAll()
      .where('is_default', '=', 1)
      .executeTakeFirst();
    if (existing) return existing;
    await this.store.db
      .insertInto('tenants')
      .values({
        id: randomUUID(),
        name,
        tenant_token: token || randomBytes(32).toString('base64url'),
        hawkbit_name: 'DEFAULT',
        is_default: 1,
        created_ts: now(),
      })
      .onConflict((oc) => oc.doNothing())
      .execute();
    return this.store.db.selectFrom('tenants').selectAll().where('is_default', '=', 1).executeTakeFirstOrThrow();
  }

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
    await this.store.db.insertInto('tenants').values(tenant).execute();
    return tenant;
  }

  async byId(id: string): Promise<Tenant | undefined> {
    return this.store.db.selectFrom('tenants').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async byToken(token: string): Promise<Tenant | undefined> {
    return this.store.db.selectFrom('tenants').selectAll().where('tenant_token', '=', token).executeTakeFirst();
  }

  async byHawkbitName(name: string): Promise<Tenant | undefined> {
    return this.store.db.selectFrom('tenants').selectAll().where('hawkbit_name', '=', name).executeTakeFirst();
  }

  async getDefault(): Promise<Tenant> {
    return this.store.db.selectFrom('tenants').selectAll().where('is_default', '=', 1).executeTakeFirstOrThrow();
  }

  /** The public keys uploaded artifacts must be signed with (none: signatures are recorded, not required). */
  artifactKeys(tenant: Tenant): string[] {
    return JSON.parse(tenant.artifact_keys_json) as string[];
  }

  async setArtifactKeys(id: string, pems: string[]): Promise<void> {
    await this.store.db
      .updateTable('tenants')
      .set({ artifact_keys_json: JSON.stringify(pems) })
      .where('id', '=', id)
      .execute();
  }

  async setMaxDevices(id: string, max: number): Promise<void> {
    await this.store.db.updateTable('tenants').set({ max_devices: max }).where('id', '=', id).execute();
  }
}
