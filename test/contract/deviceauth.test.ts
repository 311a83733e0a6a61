// Contract scenario for deviceauth (devices v1, management v2): a device asks, is admitted, authenticates and is
// decommissioned; every response checked against deviceauth-devices-v1.yml / deviceauth-management-v2.yml.
// Each test skips while its route is not served; routes.test.ts fails if any deviceauth route is not served.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it, type TestContext } from 'node:test';
import type { HTTPMethods } from 'fastify';
import { adminToken, dialects, type TestApp, testApp } from '../support/app.js';
import { specsMissing } from '../support/contract.js';
import { testDevice } from '../support/device.js';
import { type Call, caller } from './client.js';

const AUTH = '/api/devices/v1/authentication/auth_requests';
const V2 = '/api/management/v2/devauth';

for (const dialect of dialects) {
  describe(`deviceauth contract (${dialect})`, { skip: specsMissing }, () => {
    let t: TestApp;
    let admin: Call;
    const mac = [...randomBytes(6)].map((b) => b.toString(16).padStart(2, '0')).join(':');
    const device = testDevice({ mac }, 'rsa');
    let deviceId = '';
    let authSetId = '';

    before(async () => {
      t = await testApp(dialect);
      admin = caller(t, await adminToken(t));
    });
    after(() => t.close());

    /** Skips the test while the route is not served (the deviceauth routes are being written). */
    const needs = (ctx: TestContext, method: HTTPMethods, url: string, admitted = false) => {
      if (admitted && !deviceId) {
        ctx.skip('no device was listed by the earlier test');
        return false;
      }
      if (t.app.hasRoute({ method, url })) return true;
      ctx.skip(`${method} ${url} is not served yet`);
      return false;
    };

    const authenticate = (options: { signature?: string; payload?: string; invalidRequest?: boolean } = {}) => {
      const signed = device.authRequest(t.tenant.tenant_token);
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      const signature = options.signature ?? signed.signature;
      if (signature) headers['x-men-signature'] = signature;
      return caller(t)('POST', AUTH, {
        payload: options.payload ?? signed.body,
        headers,
        invalidRequest: options.invalidRequest,
      });
    };

    it('auth request: 401 while pending, 400 without a signature or with a bad body, 401 on a bad signature', async (ctx) => {
      if (!needs(ctx, 'POST', AUTH)) return;
      assert.equal((await authenticate()).statusCode, 401);
      assert.equal((await authenticate({ signature: '' })).statusCode, 400);
      assert.equal((await authenticate({ signature: Buffer.from('forged').toString('base64') })).statusCode, 401);
      assert.equal((await authenticate({ payload: '{"id_data": 1}', invalidRequest: true })).statusCode, 400);
    });

    it('devices: list, filter by status, search, count, show; 400 on a bad status, 404 on an unknown device', async (ctx) => {
      if (!needs(ctx, 'GET', `${V2}/devices`)) return;
      const pending = await admin('GET', `${V2}/devices?status=pending`, { expect: 200 });
      const mine = pending.json().find((d: { identity_data: { mac?: string } }) => d.identity_data?.mac === mac);
      assert.ok(mine, 'the device that asked is pending');
      deviceId = mine.id;
      authSetId = mine.auth_sets[0].id;
      await admin('GET', `${V2}/devices?status=sleeping`, { expect: 400 });
      const searched = await admin('POST', `${V2}/devices/search`, { payload: { id: [deviceId] }, expect: 200 });
      assert.deepEqual(
        searched.json().map((d: { id: string }) => d.id),
        [deviceId],
      );
      const count = await admin('GET', `${V2}/devices/count?status=pending`, { expect: 200 });
      assert.ok(count.json().count >= 1);
      await admin('GET', `${V2}/devices/count?status=sleeping`, { expect: 400 });
      assert.equal((await admin('GET', `${V2}/devices/${deviceId}`, { expect: 200 })).json().status, 'pending');
      await admin('GET', `${V2}/devices/${randomUUID()}`, { expect: 404 });
    });

    it('auth set status: accept (204), show (200), 400 on a bad status, 404 on unknown ids; the device gets a JWT', async (ctx) => {
      const url = `${V2}/devices/:id/auth/:aid/status`;
      if (!needs(ctx, 'PUT', url, true)) return;
      const status = `${V2}/devices/${deviceId}/auth/${authSetId}/status`;
      await admin('PUT', status, { payload: { status: 'sleeping' }, invalidRequest: true, expect: 400 });
      await admin('PUT', `${V2}/devices/${deviceId}/auth/${randomUUID()}/status`, {
        payload: { status: 'accepted' },
        expect: 404,
      });
      await admin('PUT', status, { payload: { status: 'accepted' }, expect: 204 });
      assert.equal((await admin('GET', status, { expect: 200 })).json().status, 'accepted');
      await admin('GET', `${V2}/devices/${deviceId}/auth/${randomUUID()}/status`, { expect: 404 });
      const accepted = await authenticate();
      assert.equal(accepted.statusCode, 200);
      assert.match(String(accepted.headers['content-type']), /^application\/jwt/);
      await caller(t, accepted.body)('PATCH', '/api/devices/v1/inventory/device/attributes', {
        payload: [{ name: 'device_type', value: 'qemux86-64' }],
        expect: 200,
      });
    });

    it('limits: max_devices is a number', async (ctx) => {
      if (!needs(ctx, 'GET', `${V2}/limits/max_devices`)) return;
      const res = await admin('GET', `${V2}/limits/max_devices`, { expect: 200 });
      assert.equal(typeof res.json().limit, 'number');
    });

    it('preauthorize: 201 with Location, 409 with the device for a taken identity, 400 on a bad body', async (ctx) => {
      if (!needs(ctx, 'POST', `${V2}/devices`)) return;
      const other = testDevice({ mac: [...randomBytes(6)].map((b) => b.toString(16).padStart(2, '0')).join(':') });
      const body = { identity_data: other.identity, pubkey: other.pubkey };
      const created = await admin('POST', `${V2}/devices`, { payload: body, expect: 201 });
      assert.ok(created.headers.location);
      const taken = await admin('POST', `${V2}/devices`, { payload: body, expect: 409 });
      assert.equal(taken.json().status, 'preauthorized');
      await admin('POST', `${V2}/devices`, { payload: { pubkey: other.pubkey }, invalidRequest: true, expect: 400 });
    });

    it('tokens: revoking a device token is 204, the token then fails (401); unknown token 404', async (ctx) => {
      if (!needs(ctx, 'DELETE', `${V2}/tokens/:id`, true)) return;
      const res = await authenticate();
      assert.equal(res.statusCode, 200);
      const jti = JSON.parse(Buffer.from(res.body.split('.')[1], 'base64url').toString()).jti;
      await admin('DELETE', `${V2}/tokens/${jti}`, { expect: 204 });
      await caller(t, res.body)('PATCH', '/api/devices/v1/inventory/device/attributes', {
        payload: [{ name: 'a', value: 'b' }],
        expect: 401,
      });
      await admin('DELETE', `${V2}/tokens/${randomUUID()}`, { expect: 404 });
    });

    it('auth sets and devices: DELETE is 204, then 404', async (ctx) => {
      if (!needs(ctx, 'DELETE', `${V2}/devices/:id`, true)) return;
      const other = testDevice({ mac: [...randomBytes(6)].map((b) => b.toString(16).padStart(2, '0')).join(':') });
      const created = await admin('POST', `${V2}/devices`, {
        payload: { identity_data: other.identity, pubkey: other.pubkey },
        expect: 201,
      });
      const otherId = String(created.headers.location).split('/').pop()!;
      const shown = await admin('GET', `${V2}/devices/${otherId}`, { expect: 200 });
      const otherSet = shown.json().auth_sets[0].id;
      await admin('DELETE', `${V2}/devices/${otherId}/auth/${otherSet}`, { expect: 204 });
      await admin('DELETE', `${V2}/devices/${otherId}/auth/${otherSet}`, { expect: 404 });
      await admin('DELETE', `${V2}/devices/${deviceId}`, { expect: 204 });
      await admin('DELETE', `${V2}/devices/${deviceId}`, { expect: 404 });
      assert.equal((await authenticate()).statusCode, 401);
    });
  });
}
