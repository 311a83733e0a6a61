// The hawkBit DDI adapter: which tenant a path names, who a request is (target token, gateway token, anonymous),
// targets and their settings, configData and installedBase into inventory; what a poll offers and feedback are in
// actions.ts, software modules and payload files in payloads.ts. Routes (ddi.ts, management.ts) only translate
// wire shapes; everything they decide is here.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Transaction } from 'kysely';
import { isJsonObject } from '../../api/schemas.js';
import { type AuditActor, recordAudit } from '../../audit/service.js';
import { Conflict, Invalid, NotFound, Unauthorized } from '../../errors.js';
import type { Services } from '../../services.js';
import type { Tables } from '../../store/schema.js';
import type { Tenant } from '../../tenants/service.js';
import { DdiActions } from './actions.js';
import { DdiPayloads } from './payloads.js';
import { DdiStore } from './store.js';
import type { DdiSettingsTable, DdiTargetTable } from './tables.js';
import type { Target, Targets } from './target.js';

/** The face (auth set) name DDI targets carry in the devices domain. */
export const DDI_FACE = 'ddi:target';
/** hawkBit's default polling interval. */
export const DEFAULT_POLLING_SLEEP = 300;
/** Device type of DDI targets that name none (neither per target nor by configData), unless the tenant sets one. */
export const DEFAULT_DEVICE_TYPE = 'ddi';
/** How long a process trusts its cached DDI settings of a tenant (the bound for a change to reach other processes). */
export const SETTINGS_TTL_MS = 1000;

const now = () => new Date().toISOString();
export const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');

function sameHash(a: string | null | undefined, b: string): boolean {
  if (!a) return false;
  return timingSafeEqual(Buffer.from(a, 'hex'), Buffer.from(b, 'hex'));
}

/** `HH:MM:SS` as hawkBit writes config.polling.sleep. */
export function sleepText(seconds: number): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${pad(Math.floor(seconds / 3600))}:${pad(Math.floor((seconds % 3600) / 60))}:${pad(seconds % 60)}`;
}

export type { Target } from './target.js';

export class DdiService implements Targets {
  private readonly settingsCache = new Map<string, { value: DdiSettingsTable; at: number }>();
  /** Actions: what a poll offers, their lifecycle read off the attempts, feedback onto them. */
  readonly actions: DdiActions;
  /** The software modules and payload files of an action's artifact. */
  readonly payloads: DdiPayloads;

  constructor(private readonly services: Services) {
    this.actions = new DdiActions(services, this);
    this.payloads = new DdiPayloads(services);
    // A decommissioned device's DDI target (and its token) goes with it, in the same transaction.
    services.devices.onDecommission((tenantId, deviceId, trx) => new DdiStore(trx, tenantId).deleteTargetsOf(deviceId));
  }

  store(tenantId: string, trx?: Transaction<Tables>): DdiStore {
    return new DdiStore(trx ?? this.services.store.db, tenantId);
  }

  /** The path's tenant: the hawkBit tenant name (the default tenant answers to `DEFAULT`) or the tenant id. */
  async tenant(name: string): Promise<Tenant> {
    const tenant =
      (await this.services.tenants.byHawkbitName(name)) ??
      (await this.services.tenants.byHawkbitName(name.toUpperCase())) ??
      (await this.services.tenants.byId(name));
    if (!tenant) throw new Unauthorized('unknown tenant');
    return tenant;
  }

  /**
   * The tenant's DDI settings, cached for SETTINGS_TTL_MS (every poll needs them; they change when an operator says
   * so: at once on this process, within the TTL on the others).
   */
  async settings(tenantId: string): Promise<DdiSettingsTable> {
    const cached = this.settingsCache.get(tenantId);
    if (cached && Date.now() - cached.at < SETTINGS_TTL_MS) return cached.value;
    const value = (await this.store(tenantId).settings()) ?? {
      tenant_id: tenantId,
      gateway_token_hash: null,
      anonymous: 0,
      auto_accept: 0,
      default_device_type: DEFAULT_DEVICE_TYPE,
      polling_sleep: DEFAULT_POLLING_SLEEP,
      auto_confirm: 1,
    };
    this.settingsCache.set(tenantId, { value, at: Date.now() });
    return value;
  }

  /**
   * Operator settings. `gateway_token`: a string sets it, null turns gateway tokens off, absent keeps it.
   */
  async updateSettings(tenantId: string, body: unknown, actor?: AuditActor): Promise<DdiSettingsTable> {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new Invalid('body: must be an object');
    const input = body as Record<string, unknown>;
    const current = await this.settings(tenantId);
    const next = { ...current };
    if (input.gateway_token !== undefined) {
      if (input.gateway_token !== null && (typeof input.gateway_token !== 'string' || input.gateway_token.length < 8))
        throw new Invalid('gateway_token: must be a string of at least 8 characters, or null');
      next.gateway_token_hash = input.gateway_token === null ? null : hashToken(input.gateway_token as string);
    }
    for (const key of ['anonymous', 'auto_accept', 'auto_confirm'] as const) {
      if (input[key] === undefined) continue;
      if (typeof input[key] !== 'boolean') throw new Invalid(`${key}: must be a boolean`);
      next[key] = input[key] ? 1 : 0;
    }
    if (input.default_device_type !== undefined) {
      if (typeof input.default_device_type !== 'string' || !input.default_device_type)
        throw new Invalid('default_device_type: must be a non-empty string');
      next.default_device_type = input.default_device_type;
    }
    if (input.polling_sleep !== undefined) {
      const s = input.polling_sleep;
      if (typeof s !== 'number' || !Number.isInteger(s) || s < 1 || s > 86400)
        throw new Invalid('polling_sleep: must be an integer number of seconds from 1 to 86400');
      next.polling_sleep = s;
    }
    await this.services.store.transaction(async (trx) => {
      await this.store(tenantId, trx).saveSettings(next);
      if (actor) {
        // What changed, without the gateway token itself.
        const { gateway_token: token, ...rest } = input;
        const change = JSON.stringify({
          ddi_settings: { ...rest, ...(token !== undefined ? { gateway_token: token === null ? null : '***' } : {}) },
        });
        await recordAudit(trx, tenantId, { actor, action: 'update', object: { type: 'tenant', id: tenantId }, change });
      }
    });
    this.settingsCache.delete(tenantId);
    return next;
  }

  /** Pre-creates a DDI target with its target token (generated when not given); the device is accepted. */
  async createTarget(
    tenantId: string,
    body: unknown,
  ): Promise<{ controller_id: string; device_id: string; token: string; device_type: string | null }> {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new Invalid('body: must be an object');
    const input = body as Record<string, unknown>;
    const controllerId = input.controller_id;
    if (typeof controllerId !== 'string' || !/^[A-Za-z0-9._:-]{1,128}$/.test(controllerId))
      throw new Invalid('controller_id: 1 to 128 characters of letters, digits, . _ : -');
    const token = input.token ?? randomBytes(16).toString('hex');
    if (typeof token !== 'string' || token.length < 8) throw new Invalid('token: must be at least 8 characters');
    const deviceType = input.device_type ?? null;
    if (deviceType !== null && (typeof deviceType !== 'string' || !deviceType))
      throw new Invalid('device_type: must be a non-empty string');
    const store = this.store(tenantId);
    if (await store.target(controllerId)) throw new Conflict('a DDI target with this controller_id exists');
    // A pre-created target is an operator's acceptance: past the tenant's device limit it is refused (422).
    const admitted = await this.services.devices.admitFace(tenantId, { controllerId }, DDI_FACE, 'accepted', {
      refuseOverLimit: true,
    });
    const ts = now();
    const inserted = await store.insertTarget({
      tenant_id: tenantId,
      controller_id: controllerId,
      device_id: admitted.deviceId,
      token_hash: hashToken(token),
      device_type: deviceType as string | null,
      artifact_name: null,
      config_sent: 0,
      installed_action_id: null,
      auto_confirm_json: null,
      created_ts: ts,
      updated_ts: ts,
    });
    if (!inserted) throw new Conflict('a DDI target with this controller_id exists');
    await this.writeInventory(tenantId, admitted.deviceId, (await store.target(controllerId)) as DdiTargetTable);
    return {
      controller_id: controllerId,
      device_id: admitted.deviceId,
      token,
      device_type: deviceType as string | null,
    };
  }

  async getTarget(tenantId: string, controllerId: string) {
    const row = await this.store(tenantId).target(controllerId);
    if (!row) throw new NotFound('DDI target not found');
    return {
      controller_id: row.controller_id,
      device_id: row.device_id,
      device_type: row.device_type,
      artifact_name: row.artifact_name,
      created_ts: row.created_ts,
    };
  }

  /**
   * Who polls: `TargetToken` must match the target's token; `GatewayToken` the tenant's; no header only when the
   * tenant switched anonymous mode on. Gateway and anonymous polls register unknown controller ids.
   */
  async authenticate(tenant: Tenant, controllerId: string, authorization: string | undefined): Promise<Target> {
    const store = this.store(tenant.id);
    const match = /^(TargetToken|GatewayToken)\s+(\S+)\s*$/i.exec(authorization ?? '');
    const settings = await this.settings(tenant.id);
    let row = await store.targetForRequest(controllerId);
    if (match && match[1].toLowerCase() === 'targettoken') {
      if (!row || !sameHash(row.token_hash, hashToken(match[2]))) throw new Unauthorized('bad target token');
      return { tenantId: tenant.id, row, deviceStatus: row.device_status };
    }
    if (match) {
      if (!sameHash(settings.gateway_token_hash, hashToken(match[2]))) throw new Unauthorized('bad gateway token');
    } else if (authorization || !settings.anonymous || row?.token_hash) {
      // Anonymous mode opens targets that have no token of their own; one that has must use it.
      throw new Unauthorized('missing or malformed Authorization header');
    }
    if (!row) {
      if (!/^[A-Za-z0-9._:-]{1,128}$/.test(controllerId)) throw new Unauthorized('bad controller id');
      const admitted = await this.services.devices.admitFace(
        tenant.id,
        { controllerId },
        DDI_FACE,
        settings.auto_accept ? 'accepted' : 'pending',
      );
      const ts = now();
      await store.insertTarget({
        tenant_id: tenant.id,
        controller_id: controllerId,
        device_id: admitted.deviceId,
        token_hash: null,
        device_type: null,
        artifact_name: null,
        config_sent: 0,
        installed_action_id: null,
        auto_confirm_json: null,
        created_ts: ts,
        updated_ts: ts,
      });
      const registered = await store.targetForRequest(controllerId);
      if (!registered) throw new Unauthorized('the target could not be registered');
      await this.writeInventory(tenant.id, registered.device_id, registered);
      row = registered;
    }
    return { tenantId: tenant.id, row, deviceStatus: row.device_status };
  }

  async deviceType(target: Target): Promise<string> {
    return target.row.device_type ?? (await this.settings(target.tenantId)).default_device_type;
  }

  /** device_type and artifact_name in inventory, as Mender devices report them (filters and deployments see them). */
  async writeInventory(
    tenantId: string,
    deviceId: string,
    row: DdiTargetTable,
    trx?: Transaction<Tables>,
  ): Promise<void> {
    const deviceType = row.device_type ?? (await this.settings(tenantId)).default_device_type;
    await this.services.inventory.setAttributes(
      tenantId,
      deviceId,
      'inventory',
      [
        { name: 'device_type', value: deviceType },
        { name: 'artifact_name', value: row.artifact_name ?? 'none' },
      ],
      'merge',
      trx,
    );
  }

  /** PUT installedBase (experimental in hawkBit): the device says what it runs; that becomes its artifact_name. */
  async installedVersion(target: Target, body: unknown): Promise<void> {
    const input = (typeof body === 'object' && body !== null && !Array.isArray(body) ? body : {}) as Record<
      string,
      unknown
    >;
    for (const key of ['name', 'version'] as const) {
      const value = input[key];
      if (typeof value !== 'string' || !value || value.length > 256)
        throw new Invalid(`${key}: must be a non-empty string`);
    }
    const row = { ...target.row, artifact_name: input.version as string, updated_ts: now() };
    await this.store(target.tenantId).updateTarget(row.controller_id, {
      artifact_name: row.artifact_name,
      updated_ts: row.updated_ts,
    });
    await this.writeInventory(target.tenantId, row.device_id, row);
  }

  /**
   * configData: the attributes land in inventory (merge, replace or remove as hawkBit's `mode` says); a
   * `device_type` among them becomes the target's device type for deployments.
   */
  async configData(target: Target, body: unknown): Promise<void> {
    if (!isJsonObject(body)) throw new Invalid('body: must be an object');
    const { data, mode = 'merge' } = body;
    if (!isJsonObject(data)) throw new Invalid('data: must be an object');
    if (mode !== 'merge' && mode !== 'replace' && mode !== 'remove')
      throw new Invalid('mode: merge, replace or remove');
    const entries = Object.entries(data);
    if (entries.length > 200) throw new Invalid('data: at most 200 attributes');
    for (const [name, value] of entries) {
      if (!name || name.length > 128 || typeof value !== 'string' || value.length > 512)
        throw new Invalid('data: keys up to 128 and string values up to 512 characters');
    }
    const { tenantId } = target;
    const deviceId = target.row.device_id;
    const deviceType = (data as Record<string, string>).device_type;
    const changes: Partial<DdiTargetTable> = { config_sent: 1, updated_ts: now() };
    if (mode !== 'remove' && deviceType) changes.device_type = deviceType;
    await this.store(tenantId).updateTarget(target.row.controller_id, changes);
    const row = { ...target.row, ...changes };
    if (mode === 'remove') {
      const current = (await this.services.inventory.device(tenantId, deviceId)).device.attributes ?? [];
      const keep = current
        .filter((a: { scope?: string; name: string }) => a.scope === 'inventory' && !(a.name in (data as object)))
        .map((a: { name: string; value: unknown }) => ({ name: a.name, value: a.value }));
      await this.services.inventory.setAttributes(tenantId, deviceId, 'inventory', keep as never, 'replace');
    } else {
      const attributes = entries.map(([name, value]) => ({ name, value: value as string }));
      await this.services.inventory.setAttributes(tenantId, deviceId, 'inventory', attributes, mode);
    }
    await this.writeInventory(tenantId, deviceId, row);
  }
}
