import assert from 'node:assert/strict';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { adminToken, dialects, type TestApp, testApp } from '../../../test/support/app.js';
import {
  AUTH_REQUESTS,
  type KeyType,
  makeKey,
  signBody,
  type TestDevice,
  testDevice,
} from '../../../test/support/device.js';

const M = '/api/management/v2/devauth';
const ZERO = '00000000-0000-0000-0000-000000000000';

interface Listed {
  id: string;
  status: string;
  identity_data: Record<string, unknown>;
  created_ts: string;
  updated_ts: string;
  check_in_time?: string;
  decommissioning: boolean;
  auth_sets: { id: string; device_id: string; status: string; pubkey: string; ts: string; identity_data: unknown }[];
}

/** The `Link` header (one line per relation, or one comma-separated line) as rel → page number. */
const pagesOf = (link: unknown): Record<string, string | null> =>
  Object.fromEntries(
    (Array.isArray(link) ? link.map(String) : [String(link)])
      .flatMap((line) => line.split(/,\s*(?=<)/))
      .map((part) => /^<([^>]*)>; rel="(\w+)"$/.exec(part.trim()))
      .filter((m) => m !== null)
      .map((m) => [m[2], new URL(m[1], 'http://x').searchParams.get('page')]),
  );

let macs = 0;
const nextMac = () =>
  `02:00:00:00:${(++macs)
    .toString(16)
    .padStart(4, '0')
    .replace(/(..)(..)/, '$1:$2')}`;

for (const dialect of dialects) {
  describe(`deviceauth API (${dialect})`, () => {
    let t: TestApp;
    let admin: string;
    const call = (method: 'GET' | 'PUT' | 'POST' | 'DELETE', url: string, payload?: unknown, token = admin) =>
      t.app.inject({
        method,
        url,
        headers: { authorization: `Bearer ${token}` },
        ...(payload === undefined ? {} : { payload: payload as object }),
      });
    const json = async <T = Listed>(url: string): Promise<T> => (await call('GET', url)).json() as T;
    const setStatus = (d: Listed, status: string, set = d.auth_sets[0]) =>
      call('PUT', `${M}/devices/${d.id}/auth/${set.id}/status`, { status });
    /** A device request with a device JWT: 404 from the not-found handler means the guard let it through. */
    const probe = async (jwt: string) =>
      (
        await t.app.inject({
          method: 'GET',
          url: '/api/devices/v1/probe',
          headers: { authorization: `Bearer ${jwt}` },
        })
      ).statusCode;
    const counts = async () => {
      const n = async (table: 'devices' | 'auth_sets' | 'device_tokens' | 'attributes') =>
        Number(
          (
            await t.services.store.db
              .selectFrom(table)
              .select((eb) => eb.fn.countAll<number>().as('n'))
              .executeTakeFirstOrThrow()
          ).n,
        );
      return {
        devices: await n('devices'),
        authSets: await n('auth_sets'),
        tokens: await n('device_tokens'),
        attributes: await n('attributes'),
      };
    };
    const find = async (device: TestDevice): Promise<Listed> => {
      const all = await json<Listed[]>(`${M}/devices?per_page=500`);
      const found = all.find((d) => d.identity_data.mac === device.identity.mac);
      assert.ok(found, `device ${device.identity.mac} is listed`);
      return found;
    };
    const assertError = (
      res: { statusCode: number; body: string; headers: Record<string, unknown> },
      status: number,
    ) => {
      assert.equal(res.statusCode, status, res.body);
      const body = JSON.parse(res.body) as { error: unknown; request_id: unknown };
      assert.equal(typeof body.error, 'string');
      assert.equal(body.request_id, res.headers['x-men-requestid']);
      return body.error as string;
    };

    before(async () => {
      t = await testApp(dialect);
      admin = await adminToken(t);
    });
    after(() => t.close());

    for (const keyType of ['rsa', 'ecdsa', 'ed25519'] as KeyType[]) {
      it(`${keyType}: pending (401) on first contact, then accepted: the bare JWT works on device routes`, async () => {
        const device = testDevice({ mac: nextMac() }, keyType);
        const first = await device.authenticate(t.app, t.tenant.tenant_token);
        assert.equal(first.statusCode, 401);
        assert.equal(JSON.parse(first.body).error, 'dev auth: unauthorized');
        const pending = await find(device);
        assert.equal(pending.status, 'pending');
        assert.deepEqual(pending.identity_data, device.identity);
        assert.equal(pending.auth_sets.length, 1);
        assert.equal(pending.auth_sets[0].status, 'pending');
        assert.equal(pending.auth_sets[0].device_id, pending.id);
        assert.equal(pending.decommissioning, false);
        assert.equal(pending.check_in_time, undefined);
        assert.equal((await setStatus(pending, 'accepted')).statusCode, 204);

        const { body, signature } = device.authRequest(t.tenant.tenant_token);
        const ok = await t.app.inject({
          method: 'POST',
          url: AUTH_REQUESTS,
          headers: { 'content-type': 'application/json', 'x-men-signature': signature },
          payload: body,
        });
        assert.equal(ok.statusCode, 200, ok.body);
        assert.match(String(ok.headers['content-type']), /^application\/jwt/);
        const claims = JSON.parse(Buffer.from(ok.body.split('.')[1], 'base64url').toString());
        assert.equal(claims.sub, pending.id);
        assert.equal(claims['mender.device'], true);
        assert.equal(await probe(ok.body), 404);
        const shown = await json(`${M}/devices/${pending.id}`);
        assert.equal(shown.status, 'accepted');
        assert.ok(shown.check_in_time, 'authenticating is a check-in');
        const identity = await t.services.inventory.attributes(t.tenant.id).read([pending.id], ['identity']);
        assert.deepEqual(
          identity.get(pending.id)?.map((a) => [a.name, a.value]),
          [['mac', device.identity.mac]],
        );
      });
    }

    it('takes the body exactly as mender-client writes it (Go escaping, list values) and verifies those bytes', async () => {
      const device = testDevice({ mac: nextMac(), note: 'a<b&c>', nic: ['eth0', 'wlan0'] }, 'ed25519');
      const { body } = device.authRequest('');
      const text = body.toString();
      assert.ok(text.startsWith('{"id_data":"{\\"mac\\":'), text);
      assert.ok(text.includes('\\"note\\":\\"a\\\\u003cb\\\\u0026c\\\\u003e\\"'), text);
      assert.ok(text.indexOf('"tenant_token":""') < text.indexOf('"pubkey":'), text);
      assert.ok(text.endsWith('}\n'));
      const enrolled = await device.enroll(t.app, admin);
      assert.equal(await probe(enrolled.token), 404);
      const shown = await json(`${M}/devices/${enrolled.deviceId}`);
      assert.deepEqual(shown.identity_data, device.identity);
    });

    it('uses the default tenant without a token and the Bearer tenant token otherwise; an unknown token is 401', async () => {
      const other = await t.services.tenants.create('bearer', 'BEARER');
      const device = testDevice({ mac: nextMac() }, 'ecdsa');
      const { body, signature } = device.authRequest('');
      const viaHeader = await t.app.inject({
        method: 'POST',
        url: AUTH_REQUESTS,
        headers: {
          'content-type': 'application/json',
          'x-men-signature': signature,
          authorization: `Bearer ${other.tenant_token}`,
        },
        payload: body,
      });
      assert.equal(viaHeader.statusCode, 401);
      assert.equal(await t.services.devices.count(other.id), 1, 'the device asked the Bearer token tenant');
      const before = await counts();
      assert.equal((await device.authenticate(t.app)).statusCode, 401);
      assert.equal((await counts()).devices, before.devices + 1, 'and, without a token, the default tenant');
      const stranger = testDevice({ mac: nextMac() });
      const after = await counts();
      const res = await stranger.authenticate(t.app, 'not-a-tenant-token');
      assert.equal(res.statusCode, 401);
      assert.equal(JSON.parse(res.body).error, 'invalid tenant token');
      assert.deepEqual(await counts(), after);
    });

    it('refuses bad auth requests with the right status and error, storing nothing', async () => {
      const device = testDevice({ mac: nextMac() });
      await device.authenticate(t.app); // known device: refusals below must not add auth sets to it either
      const before = await counts();
      const { body, signature } = device.authRequest();
      const signed = (payload: string) => ({ payload, signature: signBody(device.privateKey, Buffer.from(payload)) });
      const privatePem = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' });
      const post = (payload: string | Buffer, sig?: string) =>
        t.app.inject({
          method: 'POST',
          url: AUTH_REQUESTS,
          payload,
          headers: { 'content-type': 'application/json', ...(sig === undefined ? {} : { 'x-men-signature': sig }) },
        });
      const withBody = (fields: object) => {
        const s = signed(JSON.stringify(fields));
        return post(s.payload, s.signature);
      };
      const cases: [string, () => ReturnType<typeof post>, number, RegExp][] = [
        ['missing signature', () => post(body), 400, /missing request signature header/],
        ['empty signature', () => post(body, ''), 400, /missing request signature header/],
        ['malformed JSON', () => post('{"id_data": ', signature), 400, /JSON/i],
        ['signed by another key', () => post(body, signBody(makeKey('rsa'), body)), 401, /signature verification/],
        [
          'bytes changed after signing',
          () => post(Buffer.from(body.toString().replace('\n', ' \n')), signature),
          401,
          /signature/,
        ],
        ['not base64 at all', () => post(body, '%%%'), 401, /signature/],
        ['body not an object', () => withBody([1]), 400, /auth request/],
        ['id_data missing', () => withBody({ pubkey: device.pubkey }), 400, /id_data must be provided/],
        ['id_data not a string', () => withBody({ id_data: { mac: 'x' }, pubkey: device.pubkey }), 400, /id_data/],
        ['id_data not JSON', () => withBody({ id_data: 'mac=1', pubkey: device.pubkey }), 400, /id_data/],
        ['id_data empty', () => withBody({ id_data: '{}', pubkey: device.pubkey }), 400, /identity data/],
        ['id_data with a number', () => withBody({ id_data: '{"mac":1}', pubkey: device.pubkey }), 400, /identity/],
        ['pubkey missing', () => withBody({ id_data: '{"mac":"x"}' }), 400, /pubkey must be provided/],
        ['pubkey not PEM', () => withBody({ id_data: '{"mac":"x"}', pubkey: 'hello' }), 400, /cannot decode/],
        ['private key as pubkey', () => withBody({ id_data: '{"mac":"x"}', pubkey: privatePem }), 400, /cannot decode/],
        [
          'tenant_token not a string',
          () => withBody({ id_data: '{"mac":"x"}', pubkey: device.pubkey, tenant_token: 7 }),
          400,
          /tenant_token/,
        ],
        [
          'oversized body',
          () => post(JSON.stringify({ id_data: JSON.stringify({ mac: 'x'.repeat(t.config.maxJsonBody) }) }), signature),
          413,
          /too large/,
        ],
      ];
      for (const [label, request, status, message] of cases) {
        const res = await request();
        assert.match(assertError(res, status), message, label);
      }
      assert.deepEqual(await counts(), before);
    });

    it('rejecting an accepted auth set kills its live token at once; the rejected device stays out', async () => {
      const device = testDevice({ mac: nextMac() }, 'ecdsa');
      const { token } = await device.enroll(t.app, admin);
      assert.equal(await probe(token), 404);
      const d = await find(device);
      assert.equal((await setStatus(d, 'rejected')).statusCode, 204);
      assert.equal(await probe(token), 401);
      assert.equal((await device.authenticate(t.app)).statusCode, 401);
      assert.deepEqual(await json(`${M}/devices/${d.id}/auth/${d.auth_sets[0].id}/status`), { status: 'rejected' });
      assert.equal((await json(`${M}/devices/${d.id}`)).status, 'rejected');
    });

    it('follows Mender’s transitions: back to pending kills tokens, a preauthorized set is not the operator’s', async () => {
      const device = testDevice({ mac: nextMac() });
      const { token } = await device.enroll(t.app, admin);
      const d = await find(device);
      const updated = d.updated_ts;
      assert.equal((await setStatus(d, 'accepted')).statusCode, 204, 'setting the same status is a no-op');
      assert.equal((await json(`${M}/devices/${d.id}`)).updated_ts, updated);
      assert.equal(await probe(token), 404);
      assert.equal((await setStatus(d, 'pending')).statusCode, 204);
      assert.equal(await probe(token), 401);
      assert.equal((await json(`${M}/devices/${d.id}`)).status, 'pending');
      assert.equal((await setStatus(d, 'rejected')).statusCode, 204);
      assert.equal((await setStatus(d, 'pending')).statusCode, 204);
      assert.equal((await setStatus(d, 'accepted')).statusCode, 204);
      assert.equal((await device.authenticate(t.app)).statusCode, 200);
      for (const bad of ['preauthorized', 'noauth', 'sleepy']) {
        assert.match(assertError(await setStatus(d, bad), 400), /incorrect device status/);
      }
      assertError(await call('PUT', `${M}/devices/${d.id}/auth/${d.auth_sets[0].id}/status`, {}), 400);

      const pre = testDevice({ mac: nextMac() });
      const created = await call('POST', `${M}/devices`, { identity_data: pre.identity, pubkey: pre.pubkey });
      const preDevice = await json(`${M}/devices/${String(created.headers.location).split('/').pop()}`);
      for (const to of ['accepted', 'rejected', 'pending']) {
        assert.match(assertError(await setStatus(preDevice, to), 400), /invalid status transition/, to);
      }
      assert.equal((await json(`${M}/devices/${preDevice.id}`)).status, 'preauthorized');
    });

    it('a new key of an accepted device is pending; accepting it rejects the old key and kills its token', async () => {
      const mac = nextMac();
      const oldKey = testDevice({ mac });
      const { token: oldToken } = await oldKey.enroll(t.app, admin);
      const newKey = testDevice({ mac }, 'ed25519');
      assert.equal((await newKey.authenticate(t.app)).statusCode, 401);
      let d = await find(oldKey);
      assert.equal(d.status, 'accepted', 'a pending key does not demote an accepted device');
      assert.deepEqual(
        d.auth_sets.map((s) => s.status),
        ['accepted', 'pending'],
      );
      assert.equal((await setStatus(d, 'accepted', d.auth_sets[1])).statusCode, 204);
      assert.equal((await newKey.authenticate(t.app)).statusCode, 200);
      assert.equal((await oldKey.authenticate(t.app)).statusCode, 401);
      assert.equal(await probe(oldToken), 401);
      d = await find(oldKey);
      assert.deepEqual(
        d.auth_sets.map((s) => s.status),
        ['rejected', 'accepted'],
      );
    });

    it('preauthorizes: 201 with Location, 409 with the device, force adds a key, first contact is accepted', async () => {
      const device = testDevice({ mac: nextMac(), sku: 'board-1' }, 'ecdsa');
      const created = await call('POST', `${M}/devices`, { identity_data: device.identity, pubkey: device.pubkey });
      assert.equal(created.statusCode, 201, created.body);
      const location = String(created.headers.location);
      assert.match(location, new RegExp(`^${M}/devices/[0-9a-f-]{36}$`));
      const pre = await json(location);
      assert.equal(pre.status, 'preauthorized');
      assert.deepEqual(pre.identity_data, device.identity);
      assert.deepEqual(
        pre.auth_sets.map((s) => s.status),
        ['preauthorized'],
      );
      const identity = await t.services.inventory.attributes(t.tenant.id).read([pre.id], ['identity']);
      assert.equal(identity.get(pre.id)?.length, 2, 'a preauthorized device is in inventory with its identity');

      const before = await counts();
      const conflict = await call('POST', `${M}/devices`, { identity_data: device.identity, pubkey: device.pubkey });
      assert.equal(conflict.statusCode, 409);
      assert.equal(conflict.json().id, pre.id);
      assert.equal(conflict.json().status, 'preauthorized');
      const otherKey = testDevice(device.identity, 'ed25519');
      const again = await call('POST', `${M}/devices`, { identity_data: device.identity, pubkey: otherKey.pubkey });
      assert.equal(again.statusCode, 409, 'the identity is taken whatever the key');
      for (const bad of [
        { pubkey: device.pubkey },
        { identity_data: {}, pubkey: device.pubkey },
        { identity_data: { mac: 5 }, pubkey: device.pubkey },
        { identity_data: device.identity },
        { identity_data: device.identity, pubkey: 'not a key' },
        { identity_data: device.identity, pubkey: device.pubkey, force: 'yes' },
      ]) {
        assertError(await call('POST', `${M}/devices`, bad), 400);
      }
      assert.deepEqual(await counts(), before);

      const forced = await call('POST', `${M}/devices`, {
        identity_data: device.identity,
        pubkey: otherKey.pubkey,
        force: true,
      });
      assert.equal(forced.statusCode, 201);
      assert.equal((await json(`${M}/devices/${pre.id}`)).auth_sets.length, 2);

      const ok = await device.authenticate(t.app);
      assert.equal(ok.statusCode, 200, 'the preauthorized key is accepted on first contact');
      assert.equal(await probe(ok.body), 404);
      const accepted = await json(`${M}/devices/${pre.id}`);
      assert.equal(accepted.status, 'accepted');
      assert.deepEqual(accepted.auth_sets.map((s) => s.status).sort(), ['accepted', 'preauthorized']);
    });

    it('enforces the device limit: 422 on accept, 401 for a preauthorized device, nothing changes', async () => {
      assert.deepEqual(await json(`${M}/limits/max_devices`), { limit: -1 }, 'no limit shows as -1, as Mender does');
      const member = testDevice({ mac: nextMac() });
      await member.enroll(t.app, admin);
      const accepted = (await json<{ count: number }>(`${M}/devices/count?status=accepted`)).count;
      await t.services.tenants.setMaxDevices(t.tenant.id, accepted);
      try {
        assert.deepEqual(await json(`${M}/limits/max_devices`), { limit: accepted });
        const waiting = testDevice({ mac: nextMac() });
        await waiting.authenticate(t.app);
        const w = await find(waiting);
        assert.match(assertError(await setStatus(w, 'accepted'), 422), /maximum number of accepted devices/);
        assert.equal((await find(waiting)).status, 'pending');

        const pre = testDevice({ mac: nextMac() });
        await call('POST', `${M}/devices`, { identity_data: pre.identity, pubkey: pre.pubkey });
        const refused = await pre.authenticate(t.app);
        assert.equal(refused.statusCode, 401);
        assert.equal(JSON.parse(refused.body).error, 'unauthorized');
        assert.equal((await find(pre)).status, 'preauthorized');

        // A device already accepted does not count twice: it authenticates, and may swap its key.
        assert.equal((await member.authenticate(t.app)).statusCode, 200);
        const newKey = testDevice(member.identity, 'ed25519');
        await newKey.authenticate(t.app);
        const m = await find(member);
        assert.equal((await setStatus(m, 'accepted', m.auth_sets[1])).statusCode, 204);
        assert.equal((await json<{ count: number }>(`${M}/devices/count?status=accepted`)).count, accepted);
      } finally {
        await t.services.tenants.setMaxDevices(t.tenant.id, 0);
      }
    });

    it('lists by status and id with Link paging, searches, counts; 400 on bad filters and paging', async () => {
      for (let i = 0; i < 3; i++) await testDevice({ mac: nextMac() }, 'ed25519').authenticate(t.app);
      const pending = await json<Listed[]>(`${M}/devices?status=pending&per_page=500`);
      assert.ok(pending.length >= 3);
      assert.ok(pending.every((d) => d.status === 'pending'));
      const all = await json<Listed[]>(`${M}/devices?per_page=500`);
      const sorted = [...all].sort((a, b) => a.created_ts.localeCompare(b.created_ts) || a.id.localeCompare(b.id));
      assert.deepEqual(
        all.map((d) => d.id),
        sorted.map((d) => d.id),
        'oldest first',
      );

      const first = await call('GET', `${M}/devices?per_page=2`);
      assert.deepEqual(
        first.json().map((d: Listed) => d.id),
        all.slice(0, 2).map((d) => d.id),
      );
      assert.equal(first.headers['x-total-count'], undefined, 'the spec has no total here');
      assert.deepEqual(pagesOf(first.headers.link), { first: '1', next: '2' });
      const second = await call('GET', `${M}/devices?page=2&per_page=2`);
      assert.deepEqual(
        second.json().map((d: Listed) => d.id),
        all.slice(2, 4).map((d) => d.id),
      );
      assert.deepEqual(pagesOf(second.headers.link), { first: '1', prev: '1', next: '3' });
      const lastPage = Math.ceil(all.length / 2);
      const last = await call('GET', `${M}/devices?page=${lastPage}&per_page=2`);
      assert.deepEqual(pagesOf(last.headers.link), { first: '1', prev: String(lastPage - 1) });

      const [a, b] = all;
      const byIds = await json<Listed[]>(`${M}/devices?id=${a.id}&id=${b.id}`);
      assert.deepEqual(byIds.map((d) => d.id).sort(), [a.id, b.id].sort());
      assert.deepEqual(
        (await json<Listed[]>(`${M}/devices?id=${a.id}`)).map((d) => d.id),
        [a.id],
      );
      const search = await call('POST', `${M}/devices/search`, { status: a.status, id: [a.id, b.id] });
      assert.equal(search.statusCode, 200);
      assert.ok(search.json().every((d: Listed) => d.status === a.status && [a.id, b.id].includes(d.id)));
      const searchAll = await call('POST', `${M}/devices/search?per_page=500`, { status: ['pending', 'accepted'] });
      assert.equal(
        searchAll.json().length,
        all.filter((d) => d.status === 'pending' || d.status === 'accepted').length,
      );
      assert.deepEqual(pagesOf(searchAll.headers.link), { first: '1' });

      const total = (await json<{ count: number }>(`${M}/devices/count`)).count;
      assert.equal(total, all.length);
      let sum = 0;
      for (const s of ['pending', 'accepted', 'rejected', 'preauthorized', 'noauth']) {
        const n = (await json<{ count: number }>(`${M}/devices/count?status=${s}`)).count;
        assert.equal(n, all.filter((d) => d.status === s).length, s);
        sum += n;
      }
      assert.equal(sum, total);
      for (const bad of [
        `${M}/devices?status=sleepy`,
        `${M}/devices/count?status=sleepy`,
        `${M}/devices?per_page=501`,
        `${M}/devices?page=0`,
        `${M}/devices?per_page=x`,
      ]) {
        assertError(await call('GET', bad), 400);
      }
      assertError(await call('POST', `${M}/devices/search`, { status: ['sleepy'] }), 400);
      assertError(await call('POST', `${M}/devices/search?page=0`, {}), 400);
    });

    it('deleting an auth set revokes its tokens; a preauthorized device without auth sets is removed', async () => {
      const device = testDevice({ mac: nextMac() });
      const { token, deviceId, authSetId } = await device.enroll(t.app, admin);
      assert.equal((await call('DELETE', `${M}/devices/${deviceId}/auth/${authSetId}`)).statusCode, 204);
      assert.equal(await probe(token), 401);
      const left = await json(`${M}/devices/${deviceId}`);
      assert.equal(left.status, 'noauth');
      assert.deepEqual(left.auth_sets, []);
      assertError(await call('DELETE', `${M}/devices/${deviceId}/auth/${authSetId}`), 404);
      assert.equal((await device.authenticate(t.app)).statusCode, 401, 'asking again makes a new pending auth set');
      assert.equal((await json(`${M}/devices/${deviceId}`)).status, 'pending');

      const pre = testDevice({ mac: nextMac() });
      const created = await call('POST', `${M}/devices`, { identity_data: pre.identity, pubkey: pre.pubkey });
      const preId = String(created.headers.location).split('/').pop();
      const preSet = (await json(`${M}/devices/${preId}`)).auth_sets[0].id;
      assert.equal((await call('DELETE', `${M}/devices/${preId}/auth/${preSet}`)).statusCode, 204);
      assertError(await call('GET', `${M}/devices/${preId}`), 404);
      const rows = await t.services.inventory.attributes(t.tenant.id).read([preId as string]);
      assert.equal(rows.size, 0, 'its inventory went with it');
    });

    it('decommissions a device: its tokens, auth sets and inventory go at once; asking again is a new device', async () => {
      const device = testDevice({ mac: nextMac() }, 'ed25519');
      const { token, deviceId } = await device.enroll(t.app, admin);
      const second = await device.authenticate(t.app);
      const before = await counts();
      assert.equal((await call('DELETE', `${M}/devices/${deviceId}`)).statusCode, 204);
      assert.equal(await probe(token), 401);
      assert.equal(await probe(second.body), 401);
      assertError(await call('GET', `${M}/devices/${deviceId}`), 404);
      const afterwards = await counts();
      assert.equal(afterwards.devices, before.devices - 1);
      assert.equal(afterwards.authSets, before.authSets - 1);
      assert.equal(afterwards.tokens, before.tokens - 2);
      assert.equal((await t.services.inventory.attributes(t.tenant.id).read([deviceId])).size, 0);
      assert.ok(afterwards.attributes < before.attributes);
      assertError(await call('DELETE', `${M}/devices/${deviceId}`), 404);
      assert.equal((await device.authenticate(t.app)).statusCode, 401);
      const reborn = await find(device);
      assert.notEqual(reborn.id, deviceId);
      assert.equal(reborn.status, 'pending');
    });

    it('revokes one token by its jti: that token stops at once, the device’s other tokens live on', async () => {
      const device = testDevice({ mac: nextMac() }, 'ecdsa');
      const { token } = await device.enroll(t.app, admin);
      const other = (await device.authenticate(t.app)).body;
      const jti = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).jti;
      assert.equal((await call('DELETE', `${M}/tokens/${jti}`)).statusCode, 204);
      assert.equal(await probe(token), 401);
      assert.equal(await probe(other), 404);
      assertError(await call('DELETE', `${M}/tokens/${jti}`), 404);
    });

    it('answers 404 with an error body for unknown ids, changing nothing', async () => {
      const device = testDevice({ mac: nextMac() });
      await device.authenticate(t.app);
      const known = await find(device);
      const before = await counts();
      const unknown: ['GET' | 'PUT' | 'DELETE', string, unknown?][] = [
        ['GET', `${M}/devices/${ZERO}`],
        ['DELETE', `${M}/devices/${ZERO}`],
        ['DELETE', `${M}/devices/${ZERO}/auth/${ZERO}`],
        ['DELETE', `${M}/devices/${known.id}/auth/${ZERO}`],
        ['DELETE', `${M}/devices/${ZERO}/auth/${known.auth_sets[0].id}`],
        ['GET', `${M}/devices/${ZERO}/auth/${ZERO}/status`],
        ['GET', `${M}/devices/${known.id}/auth/${ZERO}/status`],
        ['PUT', `${M}/devices/${ZERO}/auth/${ZERO}/status`, { status: 'accepted' }],
        ['PUT', `${M}/devices/${ZERO}/auth/${known.auth_sets[0].id}/status`, { status: 'accepted' }],
        ['DELETE', `${M}/tokens/${ZERO}`],
      ];
      for (const [method, url, payload] of unknown) {
        assertError(await call(method, url, payload), 404);
      }
      assert.deepEqual(await counts(), before);
      assert.equal((await find(device)).status, 'pending');
    });

    it('keeps tenants apart: a user of another tenant neither sees nor changes these devices', async () => {
      const other = await t.services.tenants.create('other', 'OTHER');
      const otherUser = await t.services.users.create(other.id, 'ops@other.example', 'other-password-1');
      const tokenId = randomUUID();
      await t.services.store.db
        .insertInto('user_tokens')
        .values({
          tenant_id: other.id,
          id: tokenId,
          user_id: otherUser.id,
          kind: 'login',
          name: null,
          created_ts: new Date().toISOString(),
          expires_ts: new Date(Date.now() + 3600_000).toISOString(),
          last_used_ts: null,
        })
        .execute();
      const stranger = await t.services.tokens.sign(
        'user',
        other.id,
        otherUser.id,
        new Date(Date.now() + 3600_000),
        tokenId,
      );

      const device = testDevice({ mac: nextMac() });
      const { token, deviceId, authSetId } = await device.enroll(t.app, admin);
      const before = await counts();
      assert.deepEqual((await call('GET', `${M}/devices`, undefined, stranger)).json(), []);
      assert.deepEqual((await call('POST', `${M}/devices/search`, { id: [deviceId] }, stranger)).json(), []);
      assert.deepEqual((await call('GET', `${M}/devices/count`, undefined, stranger)).json(), { count: 0 });
      const jti = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).jti;
      const attempts: ['GET' | 'PUT' | 'DELETE', string, unknown?][] = [
        ['GET', `${M}/devices/${deviceId}`],
        ['GET', `${M}/devices/${deviceId}/auth/${authSetId}/status`],
        ['PUT', `${M}/devices/${deviceId}/auth/${authSetId}/status`, { status: 'rejected' }],
        ['DELETE', `${M}/devices/${deviceId}/auth/${authSetId}`],
        ['DELETE', `${M}/devices/${deviceId}`],
        ['DELETE', `${M}/tokens/${jti}`],
      ];
      for (const [method, url, payload] of attempts) {
        assertError(await call(method, url, payload, stranger), 404);
      }
      assert.deepEqual(await counts(), before);
      assert.equal(await probe(token), 404);
      assert.equal((await json(`${M}/devices/${deviceId}`)).status, 'accepted');
      const theirs = await device.authenticate(t.app, other.tenant_token);
      assert.equal(theirs.statusCode, 401, 'the same identity in another tenant is another, pending device');
      assert.equal((await call('GET', `${M}/devices?status=pending`, undefined, stranger)).json().length, 1);
    });
  });

  describe(`deviceauth rate limit (${dialect})`, () => {
    let t: TestApp;
    before(async () => {
      t = await testApp(dialect, { rateLimit: { max: 2, windowMs: 60_000 } });
    });
    after(() => t.close());

    it('answers 429 with Retry-After once an address sends too many auth requests, counting per address', async () => {
      const device = testDevice({ mac: nextMac() }, 'ed25519');
      const { body, signature } = device.authRequest();
      const send = (ip: string) =>
        t.app.inject({
          method: 'POST',
          url: AUTH_REQUESTS,
          remoteAddress: ip,
          headers: { 'content-type': 'application/json', 'x-men-signature': signature },
          payload: body,
        });
      assert.equal((await send('10.0.0.1')).statusCode, 401);
      assert.equal((await send('10.0.0.1')).statusCode, 401);
      const limited = await send('10.0.0.1');
      assert.equal(limited.statusCode, 429);
      assert.ok(Number(limited.headers['retry-after']) > 0);
      assert.equal(JSON.parse(limited.body).request_id, limited.headers['x-men-requestid']);
      assert.equal((await send('10.0.0.2')).statusCode, 401, 'another address has its own count');
    });
  });
}
