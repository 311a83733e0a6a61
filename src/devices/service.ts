// Device admission (Mender's deviceauth): a device presents identity data and a public key, signed with its
// private key. Each (device, key) pair is an auth set; an operator accepts, rejects or preauthorizes auth sets,
// and only an accepted one gets a device JWT. Rejecting, deleting or decommissioning revokes tokens at once.
import { createHash, randomUUID } from 'node:crypto';
import type { Transaction } from 'kysely';
import { Conflict, Invalid, NotFound, Unauthorized, Unprocessable } from '../errors.js';
import type { InventoryService } from '../inventory/service.js';
import type { CoreDeps } from '../services.js';
import { now } from '../store/db.js';
import type { Tables } from '../store/schema.js';
import { parsePublicKey, verifySignature } from './keys.js';
import { DeviceStore } from './store.js';
import type { AuthSetStatus, AuthSetTable, DeviceStatus, DeviceTable } from './tables.js';

export type IdentityData = Record<string, string | string[]>;

export interface AuthSetView {
  id: string;
  device_id: string;
  identity_data: IdentityData;
  pubkey: string;
  ts: string;
  status: AuthSetStatus;
}

export interface DeviceView {
  id: string;
  identity_data: IdentityData;
  status: DeviceStatus;
  decommissioning: boolean;
  created_ts: string;
  updated_ts: string;
  auth_sets: AuthSetView[];
}

export interface AuthRequest {
  /** The exact request bytes, which the signature covers. */
  raw: Buffer;
  body: unknown;
  signature: string | undefined;
  /** The Authorization header, which may carry the tenant token as a Bearer token. */
  authorization: string | undefined;
}

/** Hooks other domains register to act when a device is decommissioned, inside the same transaction. */
export type DecommissionHook = (tenantId: string, deviceId: string, trx: Transaction<Tables>) => Promise<void>;

/** A device's status follows its best auth set: accepted > preauthorized > pending > rejected; none is noauth. */
export function deviceStatusOf(statuses: AuthSetStatus[]): DeviceStatus {
  for (const s of ['accepted', 'preauthorized', 'pending', 'rejected'] as const) if (statuses.includes(s)) return s;
  return 'noauth';
}

/** Identity data as Mender takes it: a JSON object of strings (or string lists); keys sorted to compare. */
export function parseIdentity(value: unknown): { identity: IdentityData; canonical: string } {
  let data: unknown = value;
  if (typeof value === 'string') {
    try {
      data = JSON.parse(value);
    } catch {
      throw new Invalid('invalid auth request: id_data: must be a JSON object');
    }
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data) || Object.keys(data).length === 0) {
    throw new Invalid('invalid auth request: id_data: must be a non-empty JSON object');
  }
  const identity: IdentityData = {};
  for (const key of Object.keys(data).sort()) {
    const v = (data as Record<string, unknown>)[key];
    const ok = typeof v === 'string' || (Array.isArray(v) && v.every((x) => typeof x === 'string'));
    if (!key || !ok)
      throw new Invalid(`invalid auth request: id_data: ${JSON.stringify(key)} must be a string or a list of strings`);
    identity[key] = v as string | string[];
  }
  return { identity, canonical: JSON.stringify(identity) };
}

const hashOf = (canonical: string) => createHash('sha256').update(canonical).digest('hex');

export class DeviceService {
  private readonly decommissionHooks: DecommissionHook[] = [];

  constructor(
    private readonly deps: CoreDeps,
    private readonly inventory: InventoryService,
  ) {}

  onDecommission(hook: DecommissionHook): void {
    this.decommissionHooks.push(hook);
  }

  private store(tenantId: string, trx?: Transaction<Tables>): DeviceStore {
    return new DeviceStore(trx ?? this.deps.store.db, tenantId);
  }

  /** For the auth guard: the device behind a live (not revoked, not expired) token id. */
  async tokenAlive(tenantId: string, tokenId: string): Promise<{ deviceId: string } | undefined> {
    const row = await this.deps.store.db
      .selectFrom('device_tokens')
      .select(['device_id', 'expires_ts'])
      .where('tenant_id', '=', tenantId)
      .where('id', '=', tokenId)
      .executeTakeFirst();
    if (!row || row.expires_ts <= now()) return undefined;
    return { deviceId: row.device_id };
  }

  /**
   * Handles `POST /authentication/auth_requests`. Records unknown devices and keys as pending; answers a JWT only
   * for an accepted auth set (or a preauthorized one, which it accepts). Everything else is Unauthorized.
   */
  async authenticate(request: AuthRequest): Promise<string> {
    if (!request.signature) throw new Invalid('missing request signature header');
    const body = request.body as { id_data?: unknown; pubkey?: unknown; tenant_token?: unknown } | null;
    if (typeof body !== 'object' || body === null || Array.isArray(body))
      throw new Invalid('invalid auth request: body must be a JSON object');
    if (typeof body.id_data !== 'string' || body.id_data === '')
      throw new Invalid('invalid auth request: id_data: cannot be blank.');
    const { identity, canonical } = parseIdentity(body.id_data);
    const key = parsePublicKey(body.pubkey);
    if (body.tenant_token !== undefined && typeof body.tenant_token !== 'string') {
      throw new Invalid('invalid auth request: tenant_token: must be a string');
    }
    const bearer = /^Bearer\s+(\S+)$/i.exec(request.authorization ?? '')?.[1];
    const tenantToken = (body.tenant_token as string | undefined) || bearer || '';
    const tenant = tenantToken ? await this.deps.tenants.byToken(tenantToken) : await this.deps.tenants.getDefault();
    if (!tenant) throw new Unauthorized('invalid tenant token');
    if (!verifySignature(key.key, request.raw, request.signature))
      throw new Unauthorized('signature verification failed');

    const ts = now();
    const outcome = await this.deps.store.transaction(async (trx) => {
      const store = this.store(tenant.id, trx);
      let device = await store.byIdentityHash(hashOf(canonical));
      if (!device) {
        device = {
          tenant_id: tenant.id,
          id: randomUUID(),
          status: 'pending',
          identity_json: canonical,
          identity_hash: hashOf(canonical),
          decommissioning: 0,
          created_ts: ts,
          updated_ts: ts,
        };
        await store.insertDevice(device);
        await this.writeIdentity(tenant.id, device.id, identity, trx);
      }
      if (device.decommissioning) return { kind: 'refused' as const, reason: 'device is being decommissioned' };
      let authSet = await store.authSetByKey(device.id, key.pem);
      if (!authSet) {
        authSet = {
          tenant_id: tenant.id,
          id: randomUUID(),
          device_id: device.id,
          identity_json: canonical,
          pubkey: key.pem,
          status: 'pending',
          created_ts: ts,
        };
        await store.insertAuthSet(authSet);
        await this.refreshStatus(store, device.id, ts);
        return { kind: 'refused' as const, reason: 'device pending authorization' };
      }
      if (authSet.status === 'preauthorized') {
        if (await this.overLimit(store, tenant.max_devices, device.status)) {
          return { kind: 'refused' as const, reason: 'maximum number of accepted devices reached' };
        }
        await this.accept(store, device.id, authSet.id, ts);
        authSet.status = 'accepted';
      }
      if (authSet.status !== 'accepted') return { kind: 'refused' as const, reason: `device ${authSet.status}` };
      const tokenId = randomUUID();
      const expiresAt = new Date(Date.now() + this.deps.config.deviceTokenTtl * 1000);
      await store.insertToken({
        id: tokenId,
        device_id: device.id,
        auth_set_id: authSet.id,
        created_ts: ts,
        expires_ts: expiresAt.toISOString(),
      });
      return { kind: 'token' as const, deviceId: device.id, tokenId, expiresAt };
    });
    if (outcome.kind === 'refused') throw new Unauthorized(`unauthorized: ${outcome.reason}`);
    return this.deps.tokens.sign('device', tenant.id, outcome.deviceId, outcome.expiresAt, outcome.tokenId);
  }

  private async writeIdentity(tenantId: string, deviceId: string, identity: IdentityData, trx: Transaction<Tables>) {
    const attributes = Object.entries(identity).map(([name, value]) => ({ name, value }));
    await this.inventory.setAttributes(tenantId, deviceId, 'identity', attributes, 'replace', trx);
  }

  private async overLimit(store: DeviceStore, maxDevices: number, currentStatus: DeviceStatus): Promise<boolean> {
    if (maxDevices <= 0 || currentStatus === 'accepted') return false;
    return (await store.acceptedCount()) >= maxDevices;
  }

  /** Accepts one auth set; a device has at most one accepted key, so any other accepted one is rejected. */
  private async accept(store: DeviceStore, deviceId: string, authSetId: string, ts: string): Promise<void> {
    for (const other of await store.authSetsOf([deviceId])) {
      if (other.id !== authSetId && other.status === 'accepted') {
        await store.setAuthSetStatus(other.id, 'rejected');
        await store.revokeTokensOfAuthSet(other.id);
      }
    }
    await store.setAuthSetStatus(authSetId, 'accepted');
    await this.refreshStatus(store, deviceId, ts);
  }

  private async refreshStatus(store: DeviceStore, deviceId: string, ts: string): Promise<DeviceStatus> {
    const sets = await store.authSetsOf([deviceId]);
    const status = deviceStatusOf(sets.map((s) => s.status));
    await store.setDeviceStatus(deviceId, status, ts);
    return status;
  }

  private view(device: DeviceTable, sets: AuthSetTable[]): DeviceView {
    return {
      id: device.id,
      identity_data: JSON.parse(device.identity_json),
      status: device.status,
      decommissioning: device.decommissioning === 1,
      created_ts: device.created_ts,
      updated_ts: device.updated_ts,
      auth_sets: sets
        .filter((s) => s.device_id === device.id)
        .map((s) => ({
          id: s.id,
          device_id: s.device_id,
          identity_data: JSON.parse(s.identity_json),
          pubkey: s.pubkey,
          ts: s.created_ts,
          status: s.status,
        })),
    };
  }

  async list(
    tenantId: string,
    query: { statuses?: DeviceStatus[]; ids?: string[] },
    page: { page: number; perPage: number },
  ): Promise<{ devices: DeviceView[]; hasMore: boolean }> {
    const store = this.store(tenantId);
    const rows = await store.list(query, page);
    const hasMore = rows.length > page.perPage;
    const devices = rows.slice(0, page.perPage);
    const sets = await store.authSetsOf(devices.map((d) => d.id));
    return { devices: devices.map((d) => this.view(d, sets)), hasMore };
  }

  async get(tenantId: string, id: string): Promise<DeviceView> {
    const store = this.store(tenantId);
    const device = await store.byId(id);
    if (!device) throw new NotFound('device not found');
    return this.view(device, await store.authSetsOf([id]));
  }

  /**
   * Preauthorizes identity data with a key. A device with that identity already known is a conflict (409 with
   * the device) unless `force`, which adds the key as a preauthorized auth set of the existing device.
   */
  async preauthorize(
    tenantId: string,
    input: { identity_data: unknown; pubkey: unknown; force?: boolean },
  ): Promise<string> {
    const { identity, canonical } = parseIdentity(input.identity_data);
    const key = parsePublicKey(input.pubkey);
    const ts = now();
    return this.deps.store.transaction(async (trx) => {
      const store = this.store(tenantId, trx);
      const existing = await store.byIdentityHash(hashOf(canonical));
      if (existing && !input.force)
        throw new PreauthConflict(this.view(existing, await store.authSetsOf([existing.id])));
      const deviceId = existing?.id ?? randomUUID();
      if (!existing) {
        await store.insertDevice({
          id: deviceId,
          status: 'preauthorized',
          identity_json: canonical,
          identity_hash: hashOf(canonical),
          decommissioning: 0,
          created_ts: ts,
          updated_ts: ts,
        });
        await this.writeIdentity(tenantId, deviceId, identity, trx);
      }
      const sameKey = existing ? await store.authSetByKey(deviceId, key.pem) : undefined;
      if (sameKey) {
        await store.setAuthSetStatus(sameKey.id, 'preauthorized');
        await store.revokeTokensOfAuthSet(sameKey.id);
      } else {
        await store.insertAuthSet({
          id: randomUUID(),
          device_id: deviceId,
          identity_json: canonical,
          pubkey: key.pem,
          status: 'preauthorized',
          created_ts: ts,
        });
      }
      await this.refreshStatus(store, deviceId, ts);
      return deviceId;
    });
  }

  async setAuthSetStatus(tenantId: string, deviceId: string, authSetId: string, status: unknown): Promise<void> {
    if (status !== 'accepted' && status !== 'rejected' && status !== 'pending') {
      throw new Invalid('status: must be one of accepted, rejected, pending');
    }
    const ts = now();
    const tenant = await this.deps.tenants.byId(tenantId);
    await this.deps.store.transaction(async (trx) => {
      const store = this.store(tenantId, trx);
      const device = await store.byId(deviceId);
      const authSet = device ? await store.authSet(deviceId, authSetId) : undefined;
      if (!device || !authSet) throw new NotFound('device or authentication set not found');
      if (status === 'accepted') {
        if (authSet.status === 'accepted') return;
        if (await this.overLimit(store, tenant?.max_devices ?? 0, device.status)) {
          throw new Unprocessable('maximum number of accepted devices reached');
        }
        await this.accept(store, deviceId, authSetId, ts);
        return;
      }
      await store.setAuthSetStatus(authSetId, status);
      await store.revokeTokensOfAuthSet(authSetId);
      await this.refreshStatus(store, deviceId, ts);
    });
  }

  async authSetStatus(tenantId: string, deviceId: string, authSetId: string): Promise<AuthSetStatus> {
    const authSet = await this.store(tenantId).authSet(deviceId, authSetId);
    if (!authSet) throw new NotFound('device or authentication set not found');
    return authSet.status;
  }

  /**
   * Deletes an auth set and its tokens. A preauthorized device left with no auth set is removed altogether,
   * as Mender does; any other device is left with the status its remaining auth sets give it.
   */
  async deleteAuthSet(tenantId: string, deviceId: string, authSetId: string): Promise<void> {
    const ts = now();
    await this.deps.store.transaction(async (trx) => {
      const store = this.store(tenantId, trx);
      const device = await store.byId(deviceId);
      const authSet = device ? await store.authSet(deviceId, authSetId) : undefined;
      if (!device || !authSet) throw new NotFound('device or authentication set not found');
      await store.deleteAuthSet(authSetId);
      const status = await this.refreshStatus(store, deviceId, ts);
      if (status === 'noauth' && device.status === 'preauthorized') await store.deleteDevice(deviceId);
    });
  }

  /** Decommissions a device: it, its auth sets, tokens and inventory go; other domains' hooks run in the same transaction. */
  async decommission(tenantId: string, deviceId: string): Promise<void> {
    await this.deps.store.transaction(async (trx) => {
      const store = this.store(tenantId, trx);
      if (!(await store.byId(deviceId))) throw new NotFound('device not found');
      for (const hook of this.decommissionHooks) await hook(tenantId, deviceId, trx);
      await store.deleteDevice(deviceId);
    });
  }

  async count(tenantId: string, status?: DeviceStatus): Promise<number> {
    return this.store(tenantId).count(status ? [status] : undefined);
  }

  async revokeToken(tenantId: string, tokenId: string): Promise<void> {
    if (!(await this.store(tenantId).deleteToken(tokenId))) throw new NotFound('token not found');
  }

  async maxDevices(tenantId: string): Promise<number> {
    return (await this.deps.tenants.byId(tenantId))?.max_devices ?? 0;
  }
}

/** 409 on preauthorization: the spec answers with the existing device. */
export class PreauthConflict extends Conflict {
  constructor(readonly device: DeviceView) {
    super('device already exists');
  }
}
