import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { adminToken, dialects, type TestApp, testApp } from '../../../test/support/app.js';
import { type KeyType, makeKey, signBody, testDevice } from '../../../test/support/device.js';

const M = '/api/management/v2/devauth';
const AUTH = '/api/devices/v1/authentication/auth_requests';

for (const dialect of dialects) {
  describe(`deviceauth (${dialect})`, () => {
    let t: TestApp;
    let admin: string;
    const get = (url: string) => t.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${admin}` } });
    const send = (method: 'PUT' | 'POST' | 'DELETE', url: string, payload?: unknown) =>
      t.app.inject({
        method,
        url,
        headers: { authorization: `Bearer ${admin}` },
        ...(payload === undefined ? {} : { payload: payload as object }),
      });
    const counts = async () => {
      const [d, a] = await Promise.all([
        t.services.store.db
          .selectFrom('devices')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirstOrThrow(),
        t.services.store.db
          .selectFrom('auth_sets')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirstOrThrow(),
      ]);
      return { devices: Number(d.n), authSets: Number(a.n) };
    };
    const deviceByMac = async (mac: string) => {
      const list = JSON.parse((await get(`${M}/devices?per_page=500`)).body) as {
        id: string;
        identity_data: { mac: string };
        auth_sets: { id: string }[];
      }[];
      const found = list.find((d) => d.identity_data.mac === mac);
      assert.ok(found, `device ${mac} listed`);
      return found;
    };

    before(async () => {
      t = await testApp(dialect);
      admin = await adminToken(t);
    });
    after(() => t.close());

    for (const keyType of ['rsa', 'ecdsa', 'ed25519'] as KeyType[]) {
      it(`${keyType}: a new device is pending (401), is accepted, then gets a JWT that works on device routes`, async () => {
        const mac = `00:00:00:00:00:${keyType.length}${keyType.charCodeAt(0) % 10}`;
        const device = testDevice({ mac }, keyType);
        const first = await device.authenticate(t.app, t.tenant.tenant_token);
        assert.equal(first.statusCode, 401);
        assert.ok(JSON.parse(first.body).error);
        const listed = await deviceByMac(mac);
        const shown = JSON.parse((await get(`${M}/devices/${listed.id}`)).body);
        assert.equal(shown.status, 'pending');
        assert.deepEqual(shown.identity_data, { mac });
        assert.equal(shown.auth_sets.length, 1);
        assert.equal(shown.auth_sets[0].status, 'pending');
        const accept = await send('PUT', `${M}/devices/${listed.id}/auth/${shown.auth_sets[0].id}/status`, {
          status: 'accepted',
        });
        assert.equal(accept.statusCode, 204, accept.body);
        const ok = await device.authenticate(t.app, t.tenant.tenant_token);
        assert.equal(ok.statusCode, 200, ok.body);
        const jwt = ok.body;
        assert.equal(jwt.split('.').length, 3);
        const probe = await t.app.inject({
          method: 'GET',
          url: '/api/devices/v1/nothing-here',
          headers: { authorization: `Bearer ${jwt}` },
        });
        assert.equal(probe.statusCode, 404, 'a live device token passes the guard');
        const identity = await t.services.inventory.attributes(t.tenant.id).read([listed.id], ['identity']);
        assert.deepEqual(
          identity.get(listed.id)?.map((a) => [a.name, a.value]),
          [['mac', mac]],
        );
      });
    }

    it('the default tenant is used without a tenant token; a wrong token is 401 and stores nothing', async () => {
      const device = testDevice({ mac: 'aa:aa:aa:aa:aa:01' });
      assert.equal((await device.authenticate(t.app)).statusCode, 401);
      await deviceByMac('aa:aa:aa:aa:aa:01');
      const before = await counts();
      const stranger = testDevice({ mac: 'aa:aa:aa:aa:aa:02' });
      const res = await stranger.authenticate(t.app, 'not-a-tenant-token');
      assert.equal(res.statusCode, 401);
      assert.equal(JSON.parse(res.body).error, 'invalid tenant token');
      assert.deepEqual(await counts(), before);
    });

    it('refuses bad requests with the right status and error body, storing nothing', async () => {
      const before = await counts();
      const device = testDevice({ mac: 'bb:bb:bb:bb:bb:01' });
      const { body, signature } = device.authRequest(t.tenant.tenant_token);
      const post = (payload: string | Buffer, headers: Record<string, string>) =>
        t.app.inject({
          method: 'POST',
          url: AUTH,
          payload,
          headers: { 'content-type': 'application/json', ...headers },
        });
      const cases: [string, Promise<{ statusCode: number; body: string }>, number][] = [
        ['missing signature', post(body, {}), 400],
        ['malformed JSON', post('{"id_data": ', { 'x-men-signature': signature }), 400],
        ['signed by another key', post(body, { 'x-men-signature': signBody(makeKey('rsa'), body) }), 401],
        [
          'signature over other bytes',
          post(Buffer.from(body.toString().replace('\n', ' \n')), { 'x-men-signature': signature }),
          401,
        ],
        [
          'id_data not JSON',
          post(JSON.stringify({ id_data: 'mac=1', pubkey: device.pubkey }), { 'x-men-signature': signature }),
          400,
        ],
        [
          'id_data empty object',
          post(JSON.stringify({ id_data: '{}', pubkey: device.pubkey }), { 'x-men-signature': signature }),
          400,
        ],
        [
          'pubkey not a key',
          post(JSON.stringify({ id_data: '{"mac":"x"}', pubkey: 'hello' }), { 'x-men-signature': signature }),
          400,
        ],
        [
          'oversized body',
          post(
            JSON.stringify({ id_data: JSON.stringify({ mac: 'x'.repeat(2 * 1024 * 1024) }), pubkey: device.pubkey }),
            { 'x-men-signature': signature },
          ),
          413,
        ],
      ];
      for (const [label, response, status] of cases) {
        const res = await response;
        assert.equal(res.statusCode, status, `${label}: ${res.body}`);
        const error = JSON.parse(res.body);
        assert.equal(typeof error.error, 'string', label);
        assert.equal(typeof error.request_id, 'string', label);
      }
      assert.deepEqual(await counts(), before);
    });

    it('rejecting an auth set kills its live token at once; a rejected device stays unauthorized', async () => {
      const device = testDevice({ mac: 'cc:cc:cc:cc:cc:01' }, 'ecdsa');
      await device.authenticate(t.app);
      const listed = await deviceByMac('cc:cc:cc:cc:cc:01');
      await send('PUT', `${M}/devices/${listed.id}/auth/${listed.auth_sets[0].id}/status`, { status: 'accepted' });
      const jwt = (await device.authenticate(t.app)).body;
      const probe = () =>
        t.app.inject({ method: 'GET', url: '/api/devices/v1/x', headers: { authorization: `Bearer ${jwt}` } });
      assert.equal((await probe()).statusCode, 404);
      assert.equal(
        (await send('PUT', `${M}/devices/${listed.id}/auth/${listed.auth_sets[0].id}/status`, { status: 'rejected' }))
          .statusCode,
        204,
      );
      assert.equal((await probe()).statusCode, 401);
      assert.equal((await device.authenticate(t.app)).statusCode, 401);
      const status = JSON.parse((await get(`${M}/devices/${listed.id}/auth/${listed.auth_sets[0].id}/status`)).body);
      assert.deepEqual(status, { status: 'rejected' });
      assert.equal(JSON.parse((await get(`${M}/devices/${listed.id}`)).body).status, 'rejected');
    });

    it('a new key of an accepted device is pending; accepting it rejects the old one', async () => {
      const oldKey = testDevice({ mac: 'dd:dd:dd:dd:dd:01' });
      await oldKey.authenticate(t.app);
      let listed = await deviceByMac('dd:dd:dd:dd:dd:01');
      await send('PUT', `${M}/devices/${listed.id}/auth/${listed.auth_sets[0].id}/status`, { status: 'accepted' });
      const oldJwt = (await oldKey.authenticate(t.app)).body;
      const newKey = testDevice({ mac: 'dd:dd:dd:dd:dd:01' }, 'ed25519');
      assert.equal((await newKey.authenticate(t.app)).statusCode, 401);
      listed = await deviceByMac('dd:dd:dd:dd:dd:01');
      assert.equal(listed.auth_sets.length, 2);
      await send('PUT', `${M}/devices/${listed.id}/auth/${listed.auth_sets[1].id}/status`, { status: 'accepted' });
      assert.equal((await newKey.authenticate(t.app)).statusCode, 200);
      assert.equal((await oldKey.authenticate(t.app)).statusCode, 401);
      const probe = await t.app.inject({
        method: 'GET',
        url: '/api/devices/v1/x',
        headers: { authorization: `Bearer ${oldJwt}` },
      });
      assert.equal(probe.statusCode, 401);
    });

    it('preauthorizes a device that is then accepted on first contact; a duplicate is 409 with the device', async () => {
      const device = testDevice({ mac: 'ee:ee:ee:ee:ee:01', sku: 'board-7' });
      const res = await send('POST', `${M}/devices`, { identity_data: device.identity, pubkey: device.pubkey });
      assert.equal(res.statusCode, 201, res.body);
      const id = (res.headers.location as string).split('/').pop()!;
      assert.equal(JSON.parse((await get(`${M}/devices/${id}`)).body).status, 'preauthorized');
      const again = await send('POST', `${M}/devices`, { identity_data: device.identity, pubkey: device.pubkey });
      assert.equal(again.statusCode, 409);
      assert.equal(JSON.parse(again.body).id, id);
      assert.equal(
        (await send('POST', `${M}/devices`, { identity_data: device.identity, pubkey: 'nope' })).statusCode,
        400,
      );
      const auth = await device.authenticate(t.app);
      assert.equal(auth.statusCode, 200, auth.body);
      assert.equal(JSON.parse((await get(`${M}/devices/${id}`)).body).status, 'accepted');
    });

    it('enforces the device limit: 422 on accept, 401 for a preauthorized device', async () => {
      const accepted = Number(JSON.parse((await get(`${M}/devices/count?status=accepted`)).body).count);
      await t.services.tenants.setMaxDevices(t.tenant.id, accepted);
      assert.deepEqual(JSON.parse((await get(`${M}/limits/max_devices`)).body), { limit: accepted });
      const waiting = testDevice({ mac: 'ff:ff:ff:ff:ff:01' });
      await waiting.authenticate(t.app);
      const listed = await deviceByMac('ff:ff:ff:ff:ff:01');
      const res = await send('PUT', `${M}/devices/${listed.id}/auth/${listed.auth_sets[0].id}/status`, {
        status: 'accepted',
      });
      assert.equal(res.statusCode, 422);
      const pre = testDevice({ mac: 'ff:ff:ff:ff:ff:02' });
      await send('POST', `${M}/devices`, { identity_data: pre.identity, pubkey: pre.pubkey });
      assert.equal((await pre.authenticate(t.app)).statusCode, 401);
      await t.services.tenants.setMaxDevices(t.tenant.id, 0);
      assert.equal((await pre.authenticate(t.app)).statusCode, 200);
    });

    it('lists with status and id filters and paging, searches, counts; 400 on a bad status', async () => {
      const pending = JSON.parse((await get(`${M}/devices?status=pending`)).body) as { status: string }[];
      assert.ok(pending.length > 0);
      assert.ok(pending.every((d) => d.status === 'pending'));
      const page = await get(`${M}/devices?per_page=2&page=1`);
      assert.equal(JSON.parse(page.body).length, 2);
      assert.match(String(page.headers.link), /rel="next"/);
      const one = await deviceByMac('ee:ee:ee:ee:ee:01');
      const byId = JSON.parse((await get(`${M}/devices?id=${one.id}`)).body);
      assert.deepEqual(
        byId.map((d: { id: string }) => d.id),
        [one.id],
      );
      const search = await send('POST', `${M}/devices/search`, { status: ['accepted'], id: [one.id] });
      assert.deepEqual(
        JSON.parse(search.body).map((d: { id: string }) => d.id),
        [one.id],
      );
      const total = JSON.parse((await get(`${M}/devices/count`)).body).count;
      const byStatus = await Promise.all(
        ['pending', 'accepted', 'rejected', 'preauthorized', 'noauth'].map(
          async (s) => JSON.parse((await get(`${M}/devices/count?status=${s}`)).body).count,
        ),
      );
      assert.equal(
        byStatus.reduce((a: number, b: number) => a + b, 0),
        total,
      );
      assert.equal((await get(`${M}/devices?status=sleepy`)).statusCode, 400);
      assert.equal((await get(`${M}/devices/count?status=sleepy`)).statusCode, 400);
      assert.equal(
        (await send('PUT', `${M}/devices/${one.id}/auth/${one.auth_sets[0].id}/status`, { status: 'preauthorized' }))
          .statusCode,
        400,
      );
    });

    it('revokes a token, deletes auth sets and decommissions devices; unknown ids are 404', async () => {
      const device = testDevice({ mac: '11:11:11:11:11:01' });
      await device.authenticate(t.app);
      const listed = await deviceByMac('11:11:11:11:11:01');
      await send('PUT', `${M}/devices/${listed.id}/auth/${listed.auth_sets[0].id}/status`, { status: 'accepted' });
      const jwt = (await device.authenticate(t.app)).body;
      const jti = JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString()).jti;
      assert.equal((await send('DELETE', `${M}/tokens/${jti}`)).statusCode, 204);
      assert.equal((await send('DELETE', `${M}/tokens/${jti}`)).statusCode, 404);
      const probe = await t.app.inject({
        method: 'GET',
        url: '/api/devices/v1/x',
        headers: { authorization: `Bearer ${jwt}` },
      });
      assert.equal(probe.statusCode, 401);
      const jwt2 = (await device.authenticate(t.app)).body;
      assert.equal((await send('DELETE', `${M}/devices/${listed.id}`)).statusCode, 204);
      const probe2 = await t.app.inject({
        method: 'GET',
        url: '/api/devices/v1/x',
        headers: { authorization: `Bearer ${jwt2}` },
      });
      assert.equal(probe2.statusCode, 401);
      assert.equal((await get(`${M}/devices/${listed.id}`)).statusCode, 404);
      const zero = '00000000-0000-0000-0000-000000000000';
      for (const [method, url] of [
        ['GET', `${M}/devices/${zero}`],
        ['DELETE', `${M}/devices/${zero}`],
        ['DELETE', `${M}/devices/${zero}/auth/${zero}`],
        ['GET', `${M}/devices/${zero}/auth/${zero}/status`],
      ] as const) {
        const res = await send(method === 'GET' ? 'POST' : method, url).then(async (r) =>
          method === 'GET' ? get(url) : r,
        );
        assert.equal(res.statusCode, 404, `${method} ${url}`);
        assert.ok(JSON.parse(res.body).error);
      }
      const pre = testDevice({ mac: '11:11:11:11:11:02' });
      const created = await send('POST', `${M}/devices`, { identity_data: pre.identity, pubkey: pre.pubkey });
      const preId = (created.headers.location as string).split('/').pop()!;
      const preSet = JSON.parse((await get(`${M}/devices/${preId}`)).body).auth_sets[0].id;
      assert.equal((await send('DELETE', `${M}/devices/${preId}/auth/${preSet}`)).statusCode, 204);
      assert.equal(
        (await get(`${M}/devices/${preId}`)).statusCode,
        404,
        'a preauthorized device without auth sets is removed',
      );
    });

    it('keeps tenants apart: a user of another tenant sees and changes nothing here', async () => {
      const other = await t.services.tenants.create('other', 'OTHER');
      await t.services.users.create(other.id, 'ops@other.example', 'other-password');
      const login = await t.app.inject({
        method: 'POST',
        url: '/api/management/v1/useradm/auth/login',
        headers: { authorization: `Basic ${Buffer.from('ops@other.example:other-password').toString('base64')}` },
      });
      const auth = { authorization: `Bearer ${login.body}` };
      const mine = await deviceByMac('ee:ee:ee:ee:ee:01');
      assert.deepEqual(
        JSON.parse((await t.app.inject({ method: 'GET', url: `${M}/devices`, headers: auth })).body),
        [],
      );
      assert.equal(
        (await t.app.inject({ method: 'GET', url: `${M}/devices/${mine.id}`, headers: auth })).statusCode,
        404,
      );
      const reject = await t.app.inject({
        method: 'PUT',
        url: `${M}/devices/${mine.id}/auth/${mine.auth_sets[0].id}/status`,
        headers: auth,
        payload: { status: 'rejected' },
      });
      assert.equal(reject.statusCode, 404);
      assert.equal(
        (await t.app.inject({ method: 'DELETE', url: `${M}/devices/${mine.id}`, headers: auth })).statusCode,
        404,
      );
      assert.equal(JSON.parse((await get(`${M}/devices/${mine.id}`)).body).status, 'accepted');
      const device = testDevice({ mac: 'ee:ee:ee:ee:ee:01', sku: 'board-7' });
      const theirs = await device.authenticate(t.app, other.tenant_token);
      assert.equal(theirs.statusCode, 401, 'the same identity in another tenant is another, pending device');
    });
  });
}

describe('deviceauth rate limit (sqlite)', () => {
  it('answers 429 with Retry-After once an address sends too many auth requests, counting per address', async () => {
    const t = await testApp('sqlite', { rateLimit: { max: 2, windowMs: 60_000 } });
    try {
      const device = testDevice({ mac: 'ra:te:li:mi:te:d0' }, 'ed25519');
      const { body, signature } = device.authRequest();
      const send = (ip: string) =>
        t.app.inject({
          method: 'POST',
          url: AUTH,
          remoteAddress: ip,
          headers: { 'content-type': 'application/json', 'x-men-signature': signature },
          payload: body,
        });
      assert.equal((await send('10.0.0.1')).statusCode, 401);
      assert.equal((await send('10.0.0.1')).statusCode, 401);
      const limited = await send('10.0.0.1');
      assert.equal(limited.statusCode, 429);
      assert.ok(Number(limited.headers['retry-after']) > 0);
      assert.ok(JSON.parse(limited.body).request_id);
      assert.equal((await send('10.0.0.2')).statusCode, 401, 'another address has its own count');
    } finally {
      await t.close();
    }
  });
});
