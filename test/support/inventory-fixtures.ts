// Test fixtures for inventory: accepted (or other) devices made directly in the database, as device admission
// would leave them (device row, auth set, live device token, identity attributes), and user tokens signed
// directly, without the login route.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { DeviceStatus } from '../../src/devices/tables.js';
import { now } from '../../src/store/db.js';
import type { TestApp } from './app.js';

export interface TestDevice {
  id: string;
  /** A device JWT for the Mender device API. */
  token: string;
}

const HOUR = 3600 * 1000;

/** Creates a device of `tenantId` (default tenant) with identity attributes; returns its id and a device JWT. */
export async function addDevice(
  t: TestApp,
  options: { tenantId?: string; identity?: Record<string, string>; status?: DeviceStatus; createdTs?: string } = {},
): Promise<TestDevice> {
  const tenantId = options.tenantId ?? t.tenant.id;
  const identity = options.identity ?? { mac: randomMac() };
  const identityJson = JSON.stringify(
    Object.fromEntries(Object.entries(identity).sort(([a], [b]) => (a < b ? -1 : 1))),
  );
  const id = randomUUID();
  const authSetId = randomUUID();
  const tokenId = randomUUID();
  const ts = options.createdTs ?? now();
  const expires = new Date(Date.now() + HOUR);
  const status = options.status ?? 'accepted';
  await t.services.store.transaction(async (trx) => {
    await trx
      .insertInto('devices')
      .values({
        tenant_id: tenantId,
        id,
        status,
        identity_json: identityJson,
        identity_hash: createHash('sha256').update(identityJson).digest('hex'),
        decommissioning: 0,
        created_ts: ts,
        updated_ts: ts,
      })
      .execute();
    await trx
      .insertInto('auth_sets')
      .values({
        tenant_id: tenantId,
        id: authSetId,
        device_id: id,
        identity_json: identityJson,
        pubkey: `-----BEGIN PUBLIC KEY-----\n${randomBytes(32).toString('base64')}\n-----END PUBLIC KEY-----\n`,
        status: status === 'noauth' ? 'pending' : status,
        created_ts: ts,
      })
      .execute();
    await trx
      .insertInto('device_tokens')
      .values({
        tenant_id: tenantId,
        id: tokenId,
        device_id: id,
        auth_set_id: authSetId,
        created_ts: ts,
        expires_ts: expires.toISOString(),
      })
      .execute();
    const attributes = Object.entries(identity).map(([name, value]) => ({ name, value }));
    await t.services.inventory.setAttributes(tenantId, id, 'identity', attributes, 'replace', trx);
  });
  const token = await t.services.tokens.sign('device', tenantId, id, expires, tokenId);
  return { id, token };
}

/** A user of `tenantId` (default tenant) and a live management JWT for it, signed directly. */
export async function userToken(t: TestApp, tenantId = t.tenant.id): Promise<string> {
  const user = await t.services.users.create(tenantId, `user-${randomUUID()}@example.com`, 'correct-horse-battery');
  const tokenId = randomUUID();
  const expires = new Date(Date.now() + HOUR);
  await t.services.store.db
    .insertInto('user_tokens')
    .values({
      tenant_id: tenantId,
      id: tokenId,
      user_id: user.id,
      kind: 'login',
      name: null,
      created_ts: now(),
      expires_ts: expires.toISOString(),
      last_used_ts: null,
    })
    .execute();
  return t.services.tokens.sign('user', tenantId, user.id, expires, tokenId);
}

function randomMac(): string {
  return [...randomBytes(6)].map((b) => b.toString(16).padStart(2, '0')).join(':');
}
