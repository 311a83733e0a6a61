// What a server operator (not a tenant's user) does with tenants: create one (with its first admin user, in the same
// transaction), list them, show one with its usage, set its limits. Shared by the command line (./cli.ts) and the
// operator API (src/protocols/admin/tenants.ts). Server-level acts: they go to the server log, never to a tenant's
// audit log, which records what the tenant's own users and devices did.
import { NotFound } from '../errors.js';
import type { Services } from '../services.js';
import type { Tenant } from './service.js';

/** A tenant as operators see it: its credentials for devices, its limits (0: none) and what it uses of them. */
export interface TenantView {
  id: string;
  name: string;
  /** The `tenant_token` Mender clients send (TenantToken in mender.conf). */
  tenant_token: string;
  /** The `{tenant}` of hawkBit DDI paths, and the tenant part of Kanto MQTT usernames (the id works too). */
  hawkbit_name: string;
  default: boolean;
  max_devices: number;
  storage_limit: number;
  created_ts: string;
  /** Devices accepted now (what max_devices limits). */
  accepted_devices: number;
  /** Bytes of artifact storage used now (what storage_limit limits). */
  storage_usage: number;
}

export interface NewTenant {
  name: string;
  maxDevices?: number;
  storageLimit?: number;
  /** With both, the tenant's first user (all rights), made in the same transaction as the tenant. */
  adminEmail?: string;
  adminPassword?: string;
}

export interface Limits {
  maxDevices?: number;
  storageLimit?: number;
}

export class TenantOperator {
  constructor(private readonly services: Services) {}

  async create(spec: NewTenant): Promise<{ tenant: TenantView; admin?: { id: string; email: string } }> {
    const { adminEmail, adminPassword } = spec;
    // Checked (and the password hashed) before the tenant exists: bad input leaves nothing behind.
    const writeAdmin =
      adminEmail !== undefined || adminPassword !== undefined
        ? await this.services.users.prepare(adminEmail ?? '', adminPassword ?? '')
        : undefined;
    let admin: { id: string; email: string } | undefined;
    const tenant = await this.services.tenants.add(spec, async (trx, created) => {
      if (writeAdmin) {
        const user = await writeAdmin(trx, created.id);
        admin = { id: user.id, email: user.email };
      }
    });
    return { tenant: await this.view(tenant), ...(admin ? { admin } : {}) };
  }

  async list(): Promise<TenantView[]> {
    const views: TenantView[] = [];
    for (const tenant of await this.services.tenants.list()) views.push(await this.view(tenant));
    return views;
  }

  async show(idOrName: string): Promise<TenantView> {
    return this.view(await this.find(idOrName));
  }

  async setLimits(idOrName: string, limits: Limits): Promise<TenantView> {
    const tenant = await this.find(idOrName);
    return this.view(await this.services.tenants.setLimits(tenant.id, limits));
  }

  async find(idOrName: string): Promise<Tenant> {
    const tenant = await this.services.tenants.find(idOrName);
    if (!tenant) throw new NotFound(`no tenant ${idOrName}`);
    return tenant;
  }

  private async view(tenant: Tenant): Promise<TenantView> {
    return {
      id: tenant.id,
      name: tenant.name,
      tenant_token: tenant.tenant_token,
      hawkbit_name: tenant.hawkbit_name,
      default: tenant.is_default === 1,
      max_devices: Number(tenant.max_devices),
      storage_limit: Number(tenant.storage_limit),
      created_ts: tenant.created_ts,
      accepted_devices: await this.services.devices.count(tenant.id, 'accepted'),
      storage_usage: (await this.services.artifacts.storageUsage(tenant.id)).usage,
    };
  }
}
