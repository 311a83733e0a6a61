// Contract scenario for inventory (devices v1, management v1, v2, v2alpha1 and the Enterprise saved filters): every
// implemented route, its success and its main errors, each response checked against the inventory-*.yml specs.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { adminToken, dialects, type TestApp, testApp } from '../support/app.js';
import { specsMissing } from '../support/contract.js';
import { addDevice, type TestDevice } from '../support/inventory-fixtures.js';
import { type Call, caller } from './client.js';

const DEVICE = '/api/devices/v1/inventory/device/attributes';
const V1 = '/api/management/v1/inventory';
const V2 = '/api/management/v2/inventory';
const V2ALPHA1 = '/api/management/v2alpha1/inventory';

for (const dialect of dialects) {
  describe(`inventory contract (${dialect})`, { skip: specsMissing }, () => {
    let t: TestApp;
    let admin: Call;
    let pi: TestDevice;
    let beagle: TestDevice;
    let token: string;

    before(async () => {
      t = await testApp(dialect);
      token = await adminToken(t);
      admin = caller(t, token);
      pi = await addDevice(t, { identity: { mac: '00:01:02:03:04:05' } });
      beagle = await addDevice(t, { identity: { mac: '00:01:02:0a:0b:0c' } });
    });
    after(() => t.close());

    it('device attributes: PUT and PATCH answer 200 with no body; bad bodies 400; no or wrong token 401/403', async () => {
      const device = caller(t, pi.token);
      await device('PUT', DEVICE, {
        payload: [
          { name: 'device_type', value: 'raspberrypi4' },
          { name: 'cpus', value: 4, description: 'cores' },
          { name: 'ips', value: ['10.0.0.1', '10.0.0.2'] },
          { name: 'nothing', value: [] },
        ],
        expect: 200,
      });
      await device('PATCH', DEVICE, { payload: [{ name: 'kernel', value: '6.1' }], expect: 200 });
      await caller(t, beagle.token)('PUT', DEVICE, {
        payload: [{ name: 'device_type', value: 'beaglebone' }],
        expect: 200,
      });
      await device('PATCH', DEVICE, { payload: { name: 'not-a-list' }, invalidRequest: true, expect: 400 });
      await device('PATCH', DEVICE, { payload: [{ value: 'no name' }], invalidRequest: true, expect: 400 });
      await device('PATCH', DEVICE, {
        payload: [{ name: 'mixed', value: ['a', 1] }],
        invalidRequest: true,
        expect: 400,
      });
      await caller(t)('PATCH', DEVICE, { payload: [{ name: 'a', value: 'b' }], expect: 401 });
      await caller(t, token)('PATCH', DEVICE, { payload: [{ name: 'a', value: 'b' }], expect: 403 });
    });

    it('devices: list with paging headers, attribute filter, sort; 400 on bad paging', async () => {
      const all = await admin('GET', `${V1}/devices`, { expect: 200 });
      assert.equal(all.headers['x-total-count'], '2');
      assert.match(String(all.headers.link), /rel="first"/);
      const pis = await admin('GET', `${V1}/devices?device_type=raspberrypi4`, { expect: 200 });
      assert.deepEqual(
        pis.json().map((d: { id: string }) => d.id),
        [pi.id],
      );
      const attributes = pis.json()[0].attributes as { name: string; scope: string; value: unknown }[];
      assert.deepEqual(attributes.find((a) => a.name === 'cpus')?.value, 4);
      assert.deepEqual(attributes.find((a) => a.name === 'ips')?.value, ['10.0.0.1', '10.0.0.2']);
      await admin('GET', `${V1}/devices?sort=device_type:desc&per_page=1&page=2`, { expect: 200 });
      await admin('GET', `${V1}/devices?per_page=0`, { expect: 400 });
      await admin('GET', `${V1}/devices?page=abc`, { expect: 400 });
      await admin('GET', `${V1}/devices?has_group=maybe`, { expect: 400 });
    });

    it('devices/{id}: show (200, 404); tags PUT/PATCH 200, If-Match 412, bad body 400, unknown device 404', async () => {
      const shown = await admin('GET', `${V1}/devices/${pi.id}`, { expect: 200 });
      assert.equal(shown.json().id, pi.id);
      await admin('GET', `${V1}/devices/${randomUUID()}`, { expect: 404 });
      const tags = `${V1}/devices/${pi.id}/tags`;
      await admin('PUT', tags, { payload: [{ name: 'env', value: 'test' }], expect: 200 });
      await admin('PATCH', tags, { payload: [{ name: 'site', value: 'oslo' }], expect: 200 });
      const tagged = await admin('GET', `${V1}/devices/${pi.id}`, { expect: 200 });
      const etag = String(tagged.headers.etag ?? '');
      assert.ok(etag, 'ETag once the device has tags');
      const names = tagged
        .json()
        .attributes.filter((a: { scope: string }) => a.scope === 'tags')
        .map((a: { name: string }) => a.name);
      assert.deepEqual(names.sort(), ['env', 'site']);
      await admin('PATCH', tags, {
        payload: [{ name: 'site', value: 'bergen' }],
        headers: { 'if-match': `"${randomUUID()}"` },
        expect: 412,
      });
      await admin('PATCH', tags, {
        payload: [{ name: 'site', value: 'bergen' }],
        headers: { 'if-match': etag },
        expect: 200,
      });
      await admin('PUT', tags, { payload: { env: 'test' }, invalidRequest: true, expect: 400 });
      await admin('PUT', `${V1}/devices/${randomUUID()}/tags`, { payload: [{ name: 'env', value: 'x' }], expect: 404 });
    });

    it('groups: set, show, list, members, add, remove, delete; 400 on a bad name, 404 on unknown ones', async () => {
      await admin('PUT', `${V1}/devices/${pi.id}/group`, { payload: { group: 'staging' }, expect: 204 });
      const group = await admin('GET', `${V1}/devices/${pi.id}/group`, { expect: 200 });
      assert.equal(group.json().group, 'staging');
      await admin('PUT', `${V1}/devices/${pi.id}/group`, { payload: { group: 'no spaces!' }, expect: 400 });
      await admin('PUT', `${V1}/devices/${pi.id}/group`, { payload: {}, invalidRequest: true, expect: 400 });
      await admin('PUT', `${V1}/devices/${randomUUID()}/group`, { payload: { group: 'staging' }, expect: 404 });
      await admin('GET', `${V1}/devices/${randomUUID()}/group`, { expect: 404 });

      assert.deepEqual((await admin('GET', `${V1}/groups`, { expect: 200 })).json(), ['staging']);
      const members = await admin('GET', `${V1}/groups/staging/devices`, { expect: 200 });
      assert.deepEqual(members.json(), [pi.id]);
      assert.equal(members.headers['x-total-count'], '1');
      await admin('GET', `${V1}/groups/nowhere/devices`, { expect: 404 });

      const added = await admin('PATCH', `${V1}/groups/staging/devices`, {
        payload: [beagle.id, randomUUID()],
        expect: 200,
      });
      assert.equal(added.json().updated_count, 1);
      await admin('PATCH', `${V1}/groups/staging/devices`, { payload: { id: 1 }, invalidRequest: true, expect: 400 });
      const removed = await admin('DELETE', `${V1}/groups/staging/devices`, { payload: [beagle.id], expect: 200 });
      assert.equal(removed.json().updated_count, 1);

      await admin('DELETE', `${V1}/devices/${pi.id}/group/elsewhere`, { expect: 404 });
      await admin('DELETE', `${V1}/devices/${pi.id}/group/staging`, { expect: 204 });
      await admin('PUT', `${V1}/devices/${pi.id}/group`, { payload: { group: 'staging' }, expect: 204 });
      const deleted = await admin('DELETE', `${V1}/groups/staging`, { expect: 200 });
      assert.equal(deleted.json().updated_count, 1);
      await admin('DELETE', `${V1}/groups/staging`, { expect: 404 });
    });

    it('v2: filterable attributes, search (paging headers, $eq, $exists, $in), 400 on a bad search; statistics', async () => {
      const attributes = await admin('GET', `${V2}/filters/attributes`, { expect: 200 });
      assert.ok(attributes.json().some((a: { name: string }) => a.name === 'device_type'));
      const search = (filters: unknown[]) =>
        admin('POST', `${V2}/filters/search`, { payload: { filters }, expect: 200 });
      const pis = await search([{ scope: 'inventory', attribute: 'device_type', type: '$eq', value: 'raspberrypi4' }]);
      assert.deepEqual(
        pis.json().map((d: { id: string }) => d.id),
        [pi.id],
      );
      assert.equal(pis.headers['x-total-count'], '1');
      const kernels = await search([{ scope: 'inventory', attribute: 'kernel', type: '$exists', value: true }]);
      assert.equal(kernels.json().length, 1);
      const both = await search([
        { scope: 'inventory', attribute: 'device_type', type: '$in', value: ['raspberrypi4', 'beaglebone'] },
      ]);
      assert.equal(both.json().length, 2);
      await admin('POST', `${V2}/filters/search`, {
        payload: { filters: [{ scope: 'inventory', attribute: 'x', type: '$nope', value: 1 }] },
        invalidRequest: true,
        expect: 400,
      });
      const statistics = await admin('GET', `${V2}/statistics`, { expect: 200 });
      assert.equal(typeof statistics.json().devices_by_status, 'object');
    });

    it('v2alpha1: identity prefix search; 400 without the required fields', async () => {
      const found = await admin('POST', `${V2ALPHA1}/identities/search`, {
        payload: { scope: 'identity', name: 'mac', value_prefix: '00:01:02:0a' },
        expect: 200,
      });
      assert.deepEqual(
        found.json().map((d: { id: string }) => d.id),
        [beagle.id],
      );
      await admin('POST', `${V2ALPHA1}/identities/search`, {
        payload: { name: 'mac' },
        invalidRequest: true,
        expect: 400,
      });
    });

    it('saved filters (Enterprise, no spec): create, list, show, search, delete', async () => {
      const created = await admin('POST', `${V2}/filters`, {
        payload: {
          name: 'pis',
          terms: [{ scope: 'inventory', attribute: 'device_type', type: '$eq', value: 'raspberrypi4' }],
        },
        undocumented: true,
        expect: 201,
      });
      const id = String(created.headers.location).split('/').pop()!;
      const listed = await admin('GET', `${V2}/filters`, { undocumented: true, expect: 200 });
      assert.ok(listed.json().some((f: { id: string }) => f.id === id));
      await admin('GET', `${V2}/filters/${id}`, { undocumented: true, expect: 200 });
      const found = await admin('GET', `${V2}/filters/${id}/search`, { undocumented: true, expect: 200 });
      assert.deepEqual(
        found.json().map((d: { id: string }) => d.id),
        [pi.id],
      );
      await admin('DELETE', `${V2}/filters/${id}`, { undocumented: true, expect: 204 });
      await admin('GET', `${V2}/filters/${id}`, { undocumented: true, expect: 404 });
    });

    it('devices/{id} DELETE removes the reported inventory: 204', async () => {
      await admin('DELETE', `${V1}/devices/${beagle.id}`, { expect: 204 });
      const left = await admin('GET', `${V1}/devices/${beagle.id}`);
      const scopes = left.statusCode === 404 ? [] : left.json().attributes.map((a: { scope: string }) => a.scope);
      assert.ok(!scopes.includes('inventory'), 'the reported inventory is gone');
    });
  });
}
