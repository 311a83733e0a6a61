// Kanto devices: an operator registers a thing (thing id, device type, and for the embedded broker a password,
// stored scrypt-hashed); the thing becomes a Flotilla device with a `kanto:mqtt` face, preauthorized, so it is
// accepted when it first shows up and appears in the same device list and admission API as every other device.
// Embedded-broker credentials, as Hono's MQTT adapter takes them: username `<auth-id>@<tenant>`, where the auth-id is
// the thing id unless registered apart and the tenant is its id or its name (the hawkBit tenant name, DEFAULT for the
// default tenant), and the password set at registration.
import { randomBytes } from 'node:crypto';
import type { DeviceAuthenticator } from '../../broker/broker.js';
import { isSegment } from '../../broker/topics.js';
import { Conflict, Invalid, NotFound } from '../../errors.js';
import type { Services } from '../../services.js';
import { now } from '../../store/db.js';
import { hashPassword, verifyPassword } from '../../users/password.js';
import { isThingId } from './ditto.js';
import { KantoStore } from './store.js';
import { KANTO_FACE, type KantoDeviceTable } from './tables.js';

export { KANTO_FACE } from './tables.js';
export const DEFAULT_DEVICE_TYPE = 'kanto';

export const identityOf = (thingId: string) => ({ thing_id: thingId });

/** A Hono auth-id: a non-empty name without whitespace or MQTT topic characters. */
export function isAuthId(value: unknown): value is string {
  return typeof value === 'string' && /^[^\s/+#\p{Cc}]{1,256}$/u.test(value);
}

/** `<auth-id>@<tenant>`; the auth-id may itself hold an `@` (thing ids may), the tenant cannot. */
export function parseUsername(username: string): { authId: string; tenant: string } | undefined {
  const at = username.lastIndexOf('@');
  if (at <= 0) return undefined;
  const authId = username.slice(0, at);
  const tenant = username.slice(at + 1);
  if (!isAuthId(authId) || !isSegment(tenant)) return undefined;
  return { authId, tenant };
}

export interface KantoDeviceView {
  device_id: string;
  thing_id: string;
  device_type: string;
  artifact_name: string | null;
  last_seen: string | null;
  /** What the device logs in with (Hono's auth-id). */
  auth_id: string;
  /** Embedded broker: the MQTT username; the tenant segment of per-device topics is the tenant id. */
  username: string;
  tenant_id: string;
  has_password: boolean;
}

export function viewOf(row: KantoDeviceTable): KantoDeviceView {
  return {
    device_id: row.device_id,
    thing_id: row.thing_id,
    device_type: row.device_type,
    artifact_name: row.artifact_name,
    last_seen: row.last_seen_ts,
    auth_id: row.auth_id,
    username: `${row.auth_id}@${row.tenant_id}`,
    tenant_id: row.tenant_id,
    has_password: row.password_hash !== null,
  };
}

export class KantoDevices {
  readonly store: KantoStore;

  constructor(private readonly services: Services) {
    this.store = new KantoStore(services.store.db);
  }

  /** Registers (or re-registers) a thing; answers its view and, when Flotilla made the password up, the password. */
  async register(
    tenantId: string,
    body: {
      thing_id?: unknown;
      auth_id?: unknown;
      password?: unknown;
      device_type?: unknown;
      generate_password?: unknown;
    },
  ): Promise<KantoDeviceView & { password?: string }> {
    if (!isThingId(body.thing_id)) {
      throw new Invalid('thing_id: must be "<namespace>:<name>" without "/", "+", "#" or spaces (at most 256)');
    }
    const thingId = body.thing_id;
    if (body.password !== undefined && (typeof body.password !== 'string' || body.password.length < 12)) {
      throw new Invalid('password: must be a string of at least 12 characters');
    }
    if (body.auth_id !== undefined && !isAuthId(body.auth_id)) {
      throw new Invalid('auth_id: must be 1 to 256 characters without spaces, "/", "+" or "#"');
    }
    if (body.device_type !== undefined && (typeof body.device_type !== 'string' || !body.device_type.trim())) {
      throw new Invalid('device_type: must be a non-empty string');
    }
    const generated =
      body.password === undefined && body.generate_password !== false
        ? randomBytes(18).toString('base64url')
        : undefined;
    const password = (body.password as string | undefined) ?? generated;
    const admitted = await this.services.devices.admitFace(tenantId, identityOf(thingId), KANTO_FACE, 'preauthorized');
    const existing = await this.store.deviceByThing(tenantId, thingId);
    const ts = now();
    const row: KantoDeviceTable = {
      tenant_id: tenantId,
      device_id: admitted.deviceId,
      thing_id: thingId,
      auth_id: (body.auth_id as string | undefined) ?? existing?.auth_id ?? thingId,
      password_hash: password ? await hashPassword(password) : (existing?.password_hash ?? null),
      device_type: (body.device_type as string | undefined) ?? existing?.device_type ?? DEFAULT_DEVICE_TYPE,
      artifact_name: existing?.device_id === admitted.deviceId ? existing.artifact_name : null,
      last_seen_ts: existing?.device_id === admitted.deviceId ? existing.last_seen_ts : null,
      created_ts: existing?.created_ts ?? ts,
      updated_ts: ts,
    };
    const taken = await this.store.deviceByAuthId(tenantId, row.auth_id);
    if (taken && taken.thing_id !== thingId) {
      throw new Conflict(`auth_id: ${row.auth_id} is the auth-id of thing ${taken.thing_id} already`);
    }
    await this.services.store.transaction(async (trx) => {
      await new KantoStore(trx).upsertDevice(row);
      // Deployments match on device_type from the first moment, before the device ever reports.
      await this.services.inventory.setAttributes(
        tenantId,
        row.device_id,
        'inventory',
        [
          { name: 'device_type', value: row.device_type },
          { name: 'kanto.thing_id', value: thingId },
        ],
        'merge',
        trx,
      );
    });
    return { ...viewOf(row), ...(generated ? { password: generated } : {}) };
  }

  async get(tenantId: string, deviceId: string): Promise<KantoDeviceTable> {
    const row = await this.store.deviceById(tenantId, deviceId);
    if (!row) throw new NotFound('Kanto device not found');
    return row;
  }

  /** The embedded broker's check: anonymous clients, unknown things, wrong passwords and refused devices stay out. */
  authenticator(): DeviceAuthenticator {
    return async (username, password) => {
      const bad = (reason: string) => ({ refused: 'bad-credentials' as const, reason });
      if (!username) return bad('anonymous clients are refused');
      const parsed = parseUsername(username);
      if (!parsed) return bad('username must be <auth-id>@<tenant>');
      // The tenant's id or name, in any case (names are unique ignoring case), as DDI paths take it.
      const tenant =
        (await this.services.tenants.byId(parsed.tenant)) ??
        (await this.services.tenants.byHawkbitName(parsed.tenant)) ??
        (await this.services.tenants.byHawkbitName(parsed.tenant.toUpperCase()));
      if (!tenant) return bad('unknown tenant');
      const row = await this.store.deviceByAuthId(tenant.id, parsed.authId);
      if (!row?.password_hash) return bad('unknown thing or no password registered');
      if (!password || !(await verifyPassword(password.toString('utf8'), row.password_hash))) {
        return bad('wrong password');
      }
      const status = await this.admit(row);
      if (status !== 'ok') return { refused: 'not-authorized' as const, reason: status };
      return { tenantId: tenant.id, deviceId: row.thing_id };
    };
  }

  /**
   * The device showed up: its face is admitted (a preauthorized one becomes accepted). Answers 'ok' or why the
   * device may not talk to Flotilla (rejected by an operator, decommissioned).
   */
  async admit(row: KantoDeviceTable): Promise<'ok' | string> {
    try {
      await this.services.devices.get(row.tenant_id, row.device_id);
    } catch (error) {
      if (error instanceof NotFound) return 'the device was decommissioned; register the thing again';
      throw error;
    }
    const admitted = await this.services.devices.admitFace(row.tenant_id, identityOf(row.thing_id), KANTO_FACE);
    if (admitted.deviceId !== row.device_id) return 'the thing belongs to another device; register it again';
    if (admitted.decommissioning) return 'the device is being decommissioned';
    if (admitted.faceStatus === 'rejected') return 'the device was rejected by an operator';
    // Registered (preauthorized) but not accepted at its first contact: the tenant's device limit is reached, and a
    // device over it stays out, as a preauthorized Mender device is refused (401) then.
    if (admitted.faceStatus !== 'accepted') return "the tenant's device limit is reached";
    return 'ok';
  }
}
