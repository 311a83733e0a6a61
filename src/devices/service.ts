// Device admission (Mender's deviceauth): a device presents identity data and a public key, signed with its
// private key. Each (device, key) pair is an auth set; an operator accepts, rejects or preauthorizes auth sets,
// and only an accepted one gets a device JWT. Rejecting, deleting or decommissioning revokes tokens at once: on
// this process at commit, on every other within the revocation feed's bound (src/auth/revocations.ts). The auth
// guard's question "is this token alive?" is answered from memory in the steady state, and check-ins are written
// behind (check-ins.ts), so a device's poll costs no SQL on their account.

import { createHash, randomUUID } from 'node:crypto';
import type { Transaction } from 'kysely';
import { isJsonObject } from '../api/schemas.js';
import { type AuditActor, type AuditObject, recordAudit } from '../audit/service.js';
import { LivenessCache } from '../auth/liveness.js';
import type { Revoke } from '../auth/revocations.js';
import type { CoreDeps } from '../core.js';
import { Conflict, Invalid, NotFound, Unauthorized, Unprocessable } from '../errors.js';
import type { InventoryService } from '../inventory/service.js';
import { now } from '../store/db.js';
import type { Tables } from '../store/schema.js';
import type { Tenant } from '../tenants/service.js';
import { CheckIns, type SeenDevices } from './check-ins.js';
import { type DeviceKey, parsePublicKey, verifySignature } from './keys.js';
import {
  canTransition,
  checkInDue,
  deviceStatusOf,
  type IdentityData,
  identityAttributes,
  isOperatorStatus,
  parseIdentity,
} from './rules.js';
import { DeviceStore, isUniqueViolation } from './store.js';
import type { AuthSetStatus, AuthSetTable, DeviceStatus, DeviceTable } from './tables.js';

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
  check_in_time?: string;
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

/** Hooks other domains register to act when a device is accepted, inside the same transaction. */
export type AcceptHook = (tenantId: string, deviceId: string, trx: Transaction<Tables>) => Promise<void>;

/** Hooks other domains register to act when a device is decommissioned, inside the same transaction. */
export type DecommissionHook = (tenantId: string, deviceId: string, trx: Transaction<Tables>) => Promise<void>;

/** Mender's answers: the reason a device is refused is not the device's business. */
const UNAUTHORIZED = 'dev auth: unauthorized';
const OVER_LIMIT = 'unauthorized';
const LIMIT_REACHED = 'maximum number of accepted devices reached';
const AUTH_REQUEST = 'invalid auth request';
const PREAUTH_REQUEST = 'failed to decode preauth request';
/** What `limits/max_devices` answers for a tenant without a limit (Mender's LimitUnlimited). */
const UNLIMITED = -1;
/** Devices per check-in statement (two bound values each: within SQLite's and PostgreSQL's limits). */
const CHECK_IN_CHUNK = 1000;

type Admission = { refused: string } | { deviceId: string; tokenId: ReturnType<typeof randomUUID>; expiresAt: Date };

/** A device row as it is first stored, found again later by the hash of its identity. */
function newDevice(tenantId: string, status: DeviceStatus, canonical: string, ts: string): DeviceTable {
  return {
    tenant_id: tenantId,
    id: randomUUID(),
    status,
    identity_json: canonical,
    identity_hash: hashOf(canonical),
    decommissioning: 0,
    created_ts: ts,
    updated_ts: ts,
    check_in_ts: null,
  };
}

const hashOf = (canonical: string) => createHash('sha256').update(canonical).digest('hex');

export class DeviceService {
  private readonly decommissionHooks: DecommissionHook[] = [];
  private readonly acceptHooks: AcceptHook[] = [];
  /** Live device tokens: token id → its device. */
  private readonly liveTokens: LivenessCache<{ deviceId: string }>;
  private readonly checkIns: CheckIns;

  constructor(
    private readonly deps: CoreDeps,
    private readonly inventory: InventoryService,
  ) {
    this.liveTokens = new LivenessCache(deps.tokens.revocations, { token: 'device-token', owner: 'device' });
    this.checkIns = new CheckIns((batch) => this.writeCheckIns(batch));
  }

  onDecommission(hook: DecommissionHook): void {
    this.decommissionHooks.push(hook);
  }

  onAccept(hook: AcceptHook): void {
    this.acceptHooks.push(hook);
  }

  private store(tenantId: string, trx?: Transaction<Tables>, revoke?: Revoke): DeviceStore {
    return new DeviceStore(trx ?? this.deps.store.db, tenantId, revoke);
  }

  /** A write transaction whose token deletions reach every process's token cache. */
  private transaction<T>(work: (trx: Transaction<Tables>, revoke: Revoke) => Promise<T>): Promise<T> {
    return this.deps.tokens.revocations.transaction(work);
  }

  /** For the auth guard: the device behind a live (not revoked, not expired) token id. Notes the check-in. */
  async tokenAlive(tenantId: string, tokenId: string): Promise<{ deviceId: string } | undefined> {
    const t = Date.now();
    let live = this.liveTokens.get(tenantId, tokenId, t);
    if (!live) {
      const generation = this.liveTokens.generation();
      const row = await this.store(tenantId).tokenWithDevice(tokenId);
      const expiresAt = row ? Date.parse(row.expires_ts) : 0;
      if (!row || expiresAt <= Date.now()) return undefined;
      live = { deviceId: row.device_id };
      this.liveTokens.set(generation, tenantId, tokenId, row.device_id, expiresAt, live);
    }
    this.checkIns.note(tenantId, live.deviceId, t);
    return live;
  }

  /**
   * Writes the check-ins noted so far. The app does it every few seconds and at close; `get` and `list` do it when
   * they would show a device with a check-in not yet written (not on every read: DDI and Kanto read devices often).
   */
  flushCheckIns(): Promise<void> {
    return this.checkIns.flush();
  }

  /** Starts writing noted check-ins in the background. */
  startCheckIns(): void {
    this.checkIns.start();
  }

  /** Stops the background writes, writing what is left. */
  stopCheckIns(): Promise<void> {
    return this.checkIns.stop();
  }

  /**
   * Reads the stored check-in times of the devices seen (one statement per tenant and CHECK_IN_CHUNK devices) and
   * writes the due ones with one statement per chunk (`advanceCheckIns`); a device whose last check-in is a day old
   * also gets its inventory copy, in the same transaction. In the steady state of a fast poller (every device checked
   * in within the minute) that is no write; in a real fleet's (each device polling every few minutes or less often)
   * it is one write statement per chunk, however many devices it holds.
   */
  private async writeCheckIns(seen: SeenDevices): Promise<void> {
    const writes: { tenantId: string; rows: { id: string; ts: string }[]; daily: { id: string; ts: string }[] }[] = [];
    for (const [tenantId, devices] of seen) {
      const ids = [...devices.keys()];
      for (let i = 0; i < ids.length; i += CHECK_IN_CHUNK) {
        const rows: { id: string; ts: string }[] = [];
        const daily: { id: string; ts: string }[] = [];
        for (const row of await this.store(tenantId).checkInsOf(ids.slice(i, i + CHECK_IN_CHUNK))) {
          const ts = new Date(devices.get(row.id) as number).toISOString();
          const due = checkInDue(row.check_in_ts, ts);
          if (due.record) rows.push({ id: row.id, ts });
          if (due.record && due.toInventory) daily.push({ id: row.id, ts });
        }
        if (rows.length > 0) writes.push({ tenantId, rows, daily });
      }
    }
    const write = async (db?: Transaction<Tables>) => {
      for (const { tenantId, rows, daily } of writes) {
        await this.store(tenantId, db).advanceCheckIns(rows);
        for (const { id, ts } of daily) {
          await this.inventory.setAttributes(
            tenantId,
            id,
            'system',
            [{ name: 'check_in_time', value: ts }],
            'merge',
            db,
          );
        }
      }
    };
    if (writes.length === 0) return;
    // A single statement commits by itself; more (several chunks or tenants, inventory copies) share a transaction.
    if (writes.length === 1 && writes[0].daily.length === 0) await write();
    else await this.deps.store.transaction(write);
  }

  /** Writes the check-in time, and copies it to inventory's `system` scope when the last copy is a day old. */
  private async checkIn(
    store: DeviceStore,
    deviceId: string,
    previous: string | null,
    ts: string,
    trx: Transaction<Tables>,
  ): Promise<void> {
    const due = checkInDue(previous, ts);
    if (!due.record || !(await store.touchCheckIn(deviceId, previous, ts))) return;
    if (due.toInventory) {
      await this.inventory.setAttributes(
        store.tenantId,
        deviceId,
        'system',
        [{ name: 'check_in_time', value: ts }],
        'merge',
        trx,
      );
    }
  }

  /**
   * Handles `POST /authentication/auth_requests`. Records unknown devices and keys as pending; answers a JWT only
   * for an accepted auth set (or a preauthorized one, which it accepts). Everything else is Unauthorized.
   */
  async authenticate(request: AuthRequest): Promise<string> {
    const { identity, canonical, key, tenantToken } = readAuthRequest(request);
    // The tenant is the one whose token the request carries; an unknown token is refused (401, as Mender's
    // multi-tenant deviceauth does). No token at all is the default tenant's device: the spec makes the field
    // optional and single-tenant installs never set it; such a device only waits there, pending, for an operator.
    const tenant = tenantToken ? await this.deps.tenants.byToken(tenantToken) : await this.deps.tenants.getDefault();
    if (!tenant) throw new Unauthorized('invalid tenant token');
    if (!verifySignature(key.key, request.raw, request.signature as string)) {
      throw new Unauthorized('signature verification failed');
    }
    const admit = () => this.admit(tenant, identity, canonical, key);
    // Two first requests of one device can race to create it; the loser finds the winner's rows on a retry.
    const outcome = await admit().catch((error: unknown) => {
      if (isUniqueViolation(error)) return admit();
      throw error;
    });
    if ('refused' in outcome) throw new Unauthorized(outcome.refused);
    return this.deps.tokens.sign('device', tenant.id, outcome.deviceId, outcome.expiresAt, outcome.tokenId);
  }

  private admit(tenant: Tenant, identity: IdentityData, canonical: string, key: DeviceKey): Promise<Admission> {
    const ts = now();
    return this.transaction(async (trx, revoke) => {
      const store = this.store(tenant.id, trx, revoke);
      let device = await store.byIdentityHash(hashOf(canonical), true);
      if (!device) {
        device = newDevice(tenant.id, 'pending', canonical, ts);
        await store.insertDevice(device);
        await this.writeIdentity(tenant.id, device.id, identity, trx);
      }
      if (device.decommissioning) return { refused: UNAUTHORIZED };
      let authSet = await store.authSetByKey(device.id, key.pem);
      if (!authSet) {
        await store.insertAuthSet({
          id: randomUUID(),
          device_id: device.id,
          identity_json: canonical,
          pubkey: key.pem,
          status: 'pending',
          created_ts: ts,
        });
        await this.refreshStatus(store, device, ts);
        return { refused: UNAUTHORIZED };
      }
      if (authSet.status === 'preauthorized') {
        if (await this.overLimit(store, tenant.max_devices, device.status)) return { refused: OVER_LIMIT };
        await this.accept(store, device, authSet.id, ts, trx);
        authSet = { ...authSet, status: 'accepted' };
      }
      if (authSet.status !== 'accepted') return { refused: UNAUTHORIZED };
      const tokenId = randomUUID();
      const expiresAt = new Date(Date.parse(ts) + this.deps.config.deviceTokenTtl * 1000);
      await store.deleteExpiredTokens(device.id, ts);
      await store.insertToken({
        id: tokenId,
        device_id: device.id,
        auth_set_id: authSet.id,
        created_ts: ts,
        expires_ts: expiresAt.toISOString(),
      });
      await this.checkIn(store, device.id, device.check_in_ts, ts, trx);
      return { deviceId: device.id, tokenId, expiresAt };
    });
  }

  private async writeIdentity(tenantId: string, deviceId: string, identity: IdentityData, trx: Transaction<Tables>) {
    await this.inventory.setAttributes(tenantId, deviceId, 'identity', identityAttributes(identity), 'replace', trx);
  }

  /** Accepting one more device would pass the tenant's limit (0: none). A device already accepted does not count. */
  private async overLimit(store: DeviceStore, maxDevices: number, currentStatus: DeviceStatus): Promise<boolean> {
    if (maxDevices <= 0 || currentStatus === 'accepted') return false;
    return (await store.acceptedCountForLimit()) >= maxDevices;
  }

  /** Accepts one auth set; a device has at most one accepted key, so any other accepted one is rejected. */
  private async accept(
    store: DeviceStore,
    device: DeviceTable,
    authSetId: string,
    ts: string,
    trx: Transaction<Tables>,
  ): Promise<void> {
    for (const other of await store.authSetsOf([device.id])) {
      if (other.id !== authSetId && other.status === 'accepted') {
        await store.setAuthSetStatus(other.id, 'rejected');
        await store.revokeTokensOfAuthSet(other.id);
      }
    }
    await store.setAuthSetStatus(authSetId, 'accepted');
    await this.refreshStatus(store, device, ts);
    for (const hook of this.acceptHooks) await hook(device.tenant_id, device.id, trx);
  }

  /** Derives the device status from its auth sets; the device's updated_ts moves only when the status does. */
  private async refreshStatus(store: DeviceStore, device: DeviceTable, ts: string): Promise<DeviceStatus> {
    const status = deviceStatusOf((await store.authSetsOf([device.id])).map((s) => s.status));
    if (status !== device.status) await store.setDeviceStatus(device.id, status, ts);
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
      ...(device.check_in_ts ? { check_in_time: device.check_in_ts } : {}),
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
    if (this.checkIns.noted(tenantId)) await this.flushCheckIns();
    const store = this.store(tenantId);
    const rows = await store.list(query, page);
    const hasMore = rows.length > page.perPage;
    const devices = rows.slice(0, page.perPage);
    const sets = await store.authSetsOf(devices.map((d) => d.id));
    return { devices: devices.map((d) => this.view(d, sets)), hasMore };
  }

  async get(tenantId: string, id: string): Promise<DeviceView> {
    if (this.checkIns.noted(tenantId, id)) await this.flushCheckIns();
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
    actor?: AuditActor,
  ): Promise<string> {
    const { identity, canonical } = parseIdentity(input.identity_data, PREAUTH_REQUEST);
    const key = parsePublicKey(input.pubkey, PREAUTH_REQUEST);
    try {
      return await this.transaction(async (trx, revoke) => {
        const store = this.store(tenantId, trx, revoke);
        const id = await this.preauthorizeIn(store, identity, canonical, key, input.force === true, trx);
        if (actor) {
          const device = await store.byId(id);
          if (device)
            await recordAudit(trx, tenantId, {
              actor,
              action: 'create',
              object: deviceObject(device),
              change: 'preauthorized',
            });
        }
        return id;
      });
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      // Someone created the device between our look-up and insert: the same conflict, seen late.
      const store = this.store(tenantId);
      const existing = await store.byIdentityHash(hashOf(canonical));
      if (!existing) throw error;
      throw new PreauthConflict(this.view(existing, await store.authSetsOf([existing.id])));
    }
  }

  private async preauthorizeIn(
    store: DeviceStore,
    identity: IdentityData,
    canonical: string,
    key: DeviceKey,
    force: boolean,
    trx: Transaction<Tables>,
  ): Promise<string> {
    const ts = now();
    const existing = await store.byIdentityHash(hashOf(canonical), true);
    if (existing && !force) throw new PreauthConflict(this.view(existing, await store.authSetsOf([existing.id])));
    const device: DeviceTable = existing ?? newDevice(store.tenantId, 'preauthorized', canonical, ts);
    if (!existing) {
      await store.insertDevice(device);
      await this.writeIdentity(store.tenantId, device.id, identity, trx);
    }
    const sameKey = existing ? await store.authSetByKey(device.id, key.pem) : undefined;
    if (sameKey) {
      await store.setAuthSetStatus(sameKey.id, 'preauthorized');
      await store.revokeTokensOfAuthSet(sameKey.id);
    } else {
      await store.insertAuthSet({
        id: randomUUID(),
        device_id: device.id,
        identity_json: canonical,
        pubkey: key.pem,
        status: 'preauthorized',
        created_ts: ts,
      });
    }
    await this.refreshStatus(store, device, ts);
    return device.id;
  }

  /** An operator's decision on an auth set, within Mender's allowed transitions; accepting counts against the limit. */
  async setAuthSetStatus(
    tenantId: string,
    deviceId: string,
    authSetId: string,
    status: unknown,
    actor?: AuditActor,
  ): Promise<void> {
    if (!isOperatorStatus(status)) throw new Invalid('incorrect device status');
    const maxDevices = (await this.deps.tenants.byId(tenantId))?.max_devices ?? 0;
    const ts = now();
    await this.transaction(async (trx, revoke) => {
      const store = this.store(tenantId, trx, revoke);
      const device = await store.byId(deviceId, true);
      const authSet = device ? await store.authSet(deviceId, authSetId) : undefined;
      if (!device || !authSet) throw new NotFound('device or authentication set not found');
      if (authSet.status === status) return;
      if (!canTransition(authSet.status, status)) {
        throw new Invalid(`dev auth: bad request: invalid status transition: ${authSet.status} -> ${status}`);
      }
      if (actor) {
        // Mender's vocabulary has reject; Flotilla also audits accept and the other operator decisions.
        await recordAudit(trx, tenantId, {
          actor,
          action: status === 'rejected' ? 'reject' : status === 'accepted' ? 'accept' : 'update',
          object: deviceObject(device),
          change: `auth set ${authSetId}: ${authSet.status} -> ${status}`,
        });
      }
      if (status === 'accepted') {
        if (await this.overLimit(store, maxDevices, device.status)) throw new Unprocessable(LIMIT_REACHED);
        await this.accept(store, device, authSetId, ts, trx);
        return;
      }
      await store.setAuthSetStatus(authSetId, status);
      await store.revokeTokensOfAuthSet(authSetId);
      await this.refreshStatus(store, device, ts);
    });
  }

  async authSetStatus(tenantId: string, deviceId: string, authSetId: string): Promise<AuthSetStatus> {
    const authSet = await this.store(tenantId).authSet(deviceId, authSetId);
    if (!authSet) throw new NotFound('authentication set not found');
    return authSet.status;
  }

  /**
   * Deletes an auth set and its tokens. A device whose last auth set was a preauthorized one is removed
   * altogether, as Mender does; any other device is left with the status its remaining auth sets give it.
   */
  async deleteAuthSet(tenantId: string, deviceId: string, authSetId: string, actor?: AuditActor): Promise<void> {
    const ts = now();
    await this.transaction(async (trx, revoke) => {
      const store = this.store(tenantId, trx, revoke);
      const device = await store.byId(deviceId, true);
      const authSet = device ? await store.authSet(deviceId, authSetId) : undefined;
      if (!device || !authSet) throw new NotFound('authentication set not found');
      if (actor) {
        await recordAudit(trx, tenantId, {
          actor,
          action: 'delete',
          object: deviceObject(device),
          change: `auth set ${authSetId} (${authSet.status}) deleted`,
        });
      }
      await store.deleteAuthSet(authSetId);
      const remaining = deviceStatusOf((await store.authSetsOf([deviceId])).map((s) => s.status));
      if (authSet.status === 'preauthorized' && remaining === 'noauth') await store.deleteDevice(deviceId);
      else await this.refreshStatus(store, device, ts);
    });
  }

  /**
   * Admission for a device that proves who it is by other means than a Mender key: a hawkBit DDI target or
   * gateway token, Kanto MQTT credentials. Such a device has one auth set whose `pubkey` names the face
   * (`ddi:...`, `kanto:...`) instead of a PEM key, so operators accept, reject and decommission it through the
   * same device admission API as any other. The device is created on first contact (identity data as for
   * Mender: found again by its canonical identity); `initial` is the new auth set's status when the face is new
   * (`accepted` falls back to `pending` past the tenant's device limit, or with `refuseOverLimit` is refused with
   * Mender's 422 and nothing written). Returns the device and its status.
   */
  async admitFace(
    tenantId: string,
    identityData: unknown,
    face: string,
    initial: 'pending' | 'accepted' | 'preauthorized' = 'pending',
    options: { refuseOverLimit?: boolean } = {},
  ): Promise<{ deviceId: string; status: DeviceStatus; faceStatus: AuthSetStatus; decommissioning: boolean }> {
    if (!face || face.includes('-----BEGIN')) throw new Invalid('a device face must be a name, not a key');
    const { identity, canonical } = parseIdentity(identityData, 'device identity');
    const maxDevices = (await this.deps.tenants.byId(tenantId))?.max_devices ?? 0;
    const admit = () =>
      this.transaction(async (trx, revoke) => {
        const ts = now();
        const store = this.store(tenantId, trx, revoke);
        let device = await store.byIdentityHash(hashOf(canonical), true);
        if (!device) {
          device = newDevice(tenantId, initial === 'preauthorized' ? 'preauthorized' : 'pending', canonical, ts);
          await store.insertDevice(device);
          await this.writeIdentity(tenantId, device.id, identity, trx);
        }
        let authSet = await store.authSetByKey(device.id, face);
        if (!authSet) {
          const id = randomUUID();
          await store.insertAuthSet({
            id,
            device_id: device.id,
            identity_json: canonical,
            pubkey: face,
            status: initial === 'accepted' ? 'pending' : initial,
            created_ts: ts,
          });
          authSet = (await store.authSet(device.id, id)) as AuthSetTable;
          if (initial === 'accepted' && !(await this.overLimit(store, maxDevices, device.status))) {
            await this.accept(store, device, id, ts, trx);
            authSet = { ...authSet, status: 'accepted' };
          } else if (initial === 'accepted' && options.refuseOverLimit) {
            // An operator accepting a new device past the limit: Mender's 422, and nothing written.
            throw new Unprocessable(LIMIT_REACHED);
          }
        } else if (authSet.status === 'preauthorized' && !(await this.overLimit(store, maxDevices, device.status))) {
          await this.accept(store, device, authSet.id, ts, trx);
          authSet = { ...authSet, status: 'accepted' };
        }
        const status = await this.refreshStatus(store, device, ts);
        if (authSet.status === 'accepted') await this.checkIn(store, device.id, device.check_in_ts, ts, trx);
        return {
          deviceId: device.id,
          status,
          faceStatus: authSet.status,
          decommissioning: device.decommissioning === 1,
        };
      });
    return admit().catch((error: unknown) => {
      if (isUniqueViolation(error)) return admit();
      throw error;
    });
  }

  /** Decommissions a device: it, its auth sets, tokens and inventory go; other domains' hooks run in the same transaction. */
  async decommission(tenantId: string, deviceId: string, actor?: AuditActor): Promise<void> {
    await this.transaction(async (trx, revoke) => {
      const store = this.store(tenantId, trx, revoke);
      const device = await store.byId(deviceId, true);
      if (!device) throw new NotFound('device not found');
      if (actor) await recordAudit(trx, tenantId, { actor, action: 'decommission', object: deviceObject(device) });
      for (const hook of this.decommissionHooks) await hook(tenantId, deviceId, trx);
      await store.deleteDevice(deviceId);
    });
  }

  async count(tenantId: string, status?: DeviceStatus): Promise<number> {
    return this.store(tenantId).count(status ? [status] : undefined);
  }

  async revokeToken(tenantId: string, tokenId: string, actor?: AuditActor): Promise<void> {
    await this.transaction(async (trx, revoke) => {
      const store = this.store(tenantId, trx, revoke);
      const deviceId = await store.deleteToken(tokenId);
      if (!deviceId) throw new NotFound('token not found');
      if (actor) {
        const device = await store.byId(deviceId);
        if (device) {
          await recordAudit(trx, tenantId, {
            actor,
            action: 'revoke',
            object: deviceObject(device),
            change: `token ${tokenId}`,
          });
        }
      }
    });
  }

  /** The tenant's limit of accepted devices as Mender shows it: -1 when there is none. */
  async maxDevices(tenantId: string): Promise<number> {
    const max = (await this.deps.tenants.byId(tenantId))?.max_devices ?? 0;
    return max > 0 ? max : UNLIMITED;
  }
}

/** Validates an auth request as Mender does, in its order: body, identity data, key, then the signature header. */
function readAuthRequest(request: AuthRequest) {
  const body = request.body;
  if (!isJsonObject(body)) {
    throw new Invalid('failed to decode auth request: the body must be a JSON object');
  }
  for (const field of ['id_data', 'pubkey', 'tenant_token'] as const) {
    if (body[field] !== undefined && body[field] !== null && typeof body[field] !== 'string') {
      throw new Invalid(`failed to decode auth request: ${field} must be a string`);
    }
  }
  if (!body.id_data) throw new Invalid(`${AUTH_REQUEST}: id_data must be provided`);
  const key = parsePublicKey(body.pubkey, AUTH_REQUEST);
  const { identity, canonical } = parseIdentity(body.id_data, AUTH_REQUEST);
  if (!request.signature) throw new Invalid('missing request signature header');
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(request.authorization ?? '')?.[1];
  const tenantToken = (typeof body.tenant_token === 'string' && body.tenant_token) || bearer || '';
  return { identity, canonical, key, tenantToken };
}

/** 409 on preauthorization: the spec answers with the existing device. */
export class PreauthConflict extends Conflict {
  constructor(readonly device: DeviceView) {
    super('device already exists');
  }
}

/** A device as an audit entry names it: id and identity data, as Mender's audit log shows devices. */
function deviceObject(device: DeviceTable): AuditObject {
  return { type: 'device', id: device.id, device: { id: device.id, identity_data: device.identity_json } };
}
