// Contract scenario for useradm (management v1 and v2): every implemented route, its success and its main errors,
// each response checked against useradm-management-v1.yml / -v2.yml.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { adminToken, dialects, type TestApp, testApp } from '../support/app.js';
import { specsMissing } from '../support/contract.js';
import { basicAuth, type Call, caller } from './client.js';

const V1 = '/api/management/v1/useradm';
const V2 = '/api/management/v2/useradm';
const PASSWORD = 'correct-horse';
const email = (what: string) => `${what}-${randomUUID().slice(0, 8)}@example.com`;

for (const dialect of dialects) {
  describe(`useradm contract (${dialect})`, { skip: specsMissing }, () => {
    let t: TestApp;
    let admin: Call;
    let anonymous: Call;

    before(async () => {
      t = await testApp(dialect);
      admin = caller(t, await adminToken(t));
      anonymous = caller(t);
    });
    after(() => t.close());

    async function login(address: string, password = PASSWORD): Promise<string> {
      const res = await anonymous('POST', `${V1}/auth/login`, {
        headers: { authorization: basicAuth(address, password) },
        expect: 200,
      });
      return res.body;
    }

    it('login: a JWT for good credentials, 401 for bad or missing ones, 400 for bad options', async () => {
      const address = email('login');
      await t.services.users.create(t.tenant.id, address, PASSWORD);
      const token = await login(address);
      assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/);
      const withOptions = await anonymous('POST', `${V1}/auth/login`, {
        headers: { authorization: basicAuth(address, PASSWORD) },
        payload: { no_expiry: true },
        expect: 200,
      });
      assert.match(withOptions.body, /^[\w-]+\.[\w-]+\.[\w-]+$/);
      await anonymous('POST', `${V1}/auth/login`, {
        headers: { authorization: basicAuth(address, 'wrong-password') },
        expect: 401,
      });
      await anonymous('POST', `${V1}/auth/login`, { expect: 401 });
      await anonymous('POST', `${V1}/auth/login`, {
        headers: { authorization: basicAuth(address, PASSWORD) },
        payload: { no_expiry: 'yes' },
        invalidRequest: true,
        expect: 400,
      });
    });

    it('logout: 202, and the token is dead afterwards (401)', async () => {
      const address = email('logout');
      await t.services.users.create(t.tenant.id, address, PASSWORD);
      const session = caller(t, await login(address));
      await session('GET', `${V1}/users/me`, { expect: 200 });
      await session('POST', `${V1}/auth/logout`, { expect: 202 });
      await session('GET', `${V1}/users/me`, { expect: 401 });
    });

    it('users: create (201 + Location), list, filter, show, 422 on duplicates and short passwords, 400 on bad input', async () => {
      const address = email('new');
      const created = await admin('POST', `${V1}/users`, {
        payload: { email: address, password: PASSWORD },
        expect: 201,
      });
      const location = String(created.headers.location);
      const id = location.split('/').pop()!;
      assert.match(location, /users\/[\w-]+$/);
      const listed = await admin('GET', `${V1}/users`, { expect: 200 });
      assert.ok(listed.json().some((u: { id: string }) => u.id === id));
      const filtered = await admin('GET', `${V1}/users?email=${encodeURIComponent(address)}`, { expect: 200 });
      assert.deepEqual(
        filtered.json().map((u: { email: string }) => u.email),
        [address],
      );
      const shown = await admin('GET', `${V1}/users/${id}`, { expect: 200 });
      assert.equal(shown.json().email, address);
      await admin('GET', `${V1}/users/${randomUUID()}`, { expect: 404 });
      await admin('POST', `${V1}/users`, { payload: { email: address, password: PASSWORD }, expect: 422 });
      await admin('POST', `${V1}/users`, { payload: { email: email('short'), password: 'short' }, expect: 422 });
      await admin('POST', `${V1}/users`, { payload: { email: 'not-an-email', password: PASSWORD }, expect: 400 });
      await admin('POST', `${V1}/users`, { payload: { email: email('x') }, invalidRequest: true, expect: 400 });
      await admin('GET', `${V1}/users?created_after=yesterday`, { expect: 400 });
    });

    it('users/me: show, change own email (needs the current password: 422 without), v1 and v2 password change', async () => {
      const address = email('me');
      await t.services.users.create(t.tenant.id, address, PASSWORD);
      const me = caller(t, await login(address));
      const shown = await me('GET', `${V1}/users/me`, { expect: 200 });
      assert.equal(shown.json().email, address);
      const moved = email('moved');
      await me('PUT', `${V1}/users/me`, { payload: { email: moved }, expect: 422 });
      await me('PUT', `${V1}/users/me`, { payload: { email: moved, current_password: PASSWORD }, expect: 204 });
      assert.equal((await me('GET', `${V1}/users/me`, { expect: 200 })).json().email, moved);
      const next = 'another-horse-battery';
      await me('PUT', `${V2}/users/me`, { payload: { password: next, current_password: 'nope-nope' }, expect: 422 });
      await me('PUT', `${V2}/users/me`, { payload: { password: next, current_password: PASSWORD }, expect: 204 });
      await login(moved, next);
      await me('PUT', `${V2}/users/me`, { payload: { password: { new: 'x' } }, invalidRequest: true, expect: 400 });
    });

    it('users/{id}: update another user, 404 for an unknown one, 422 for a taken email; delete is 204', async () => {
      const address = email('other');
      const other = await t.services.users.create(t.tenant.id, address, PASSWORD);
      const renamed = email('renamed');
      await admin('PUT', `${V1}/users/${other.id}`, { payload: { email: renamed }, expect: 204 });
      await admin('PUT', `${V1}/users/${randomUUID()}`, { payload: { email: email('ghost') }, expect: 404 });
      const taken = email('taken');
      await t.services.users.create(t.tenant.id, taken, PASSWORD);
      await admin('PUT', `${V1}/users/${other.id}`, { payload: { email: taken }, expect: 422 });
      await admin('DELETE', `${V1}/users/${other.id}`, { expect: 204 });
      await admin('GET', `${V1}/users/${other.id}`, { expect: 404 });
      await admin('DELETE', `${V1}/users/${randomUUID()}`, { expect: 204 });
    });

    for (const path of ['settings', 'settings/me']) {
      it(`${path}: empty at first, saved with 201, ETag honoured with 412 on a stale If-Match`, async () => {
        const first = await admin('GET', `${V1}/${path}`, { expect: 200 });
        assert.equal(typeof first.json(), 'object');
        await admin('POST', `${V1}/${path}`, { payload: { theme: 'dark', columns: ['a', 'b'] }, expect: 201 });
        const saved = await admin('GET', `${V1}/${path}`, { expect: 200 });
        assert.equal(saved.json().theme, 'dark');
        const etag = String(saved.headers.etag ?? '');
        assert.ok(etag, 'ETag after a save');
        await admin('POST', `${V1}/${path}`, {
          payload: { theme: 'light' },
          headers: { 'if-match': randomUUID() },
          expect: 412,
        });
        await admin('POST', `${V1}/${path}`, {
          payload: { theme: 'light' },
          headers: { 'if-match': etag },
          expect: 201,
        });
        await admin('POST', `${V1}/${path}`, { payload: ['not', 'an', 'object'], invalidRequest: true, expect: 400 });
      });
    }

    it('settings/tokens: issue (bare JWT), use, list, 409 on a taken name, 400 on a bad request, revoke', async () => {
      const address = email('pat');
      await t.services.users.create(t.tenant.id, address, PASSWORD);
      const owner = caller(t, await login(address));
      const issued = await owner('POST', `${V1}/settings/tokens`, {
        payload: { name: 'ci', expires_in: 3600 },
        expect: 200,
      });
      const pat = issued.body;
      assert.match(pat, /^[\w-]+\.[\w-]+\.[\w-]+$/);
      await owner('POST', `${V1}/settings/tokens`, { payload: { name: 'forever' }, expect: 200 });
      await caller(t, pat)('GET', `${V1}/users/me`, { expect: 200 });
      const listed = await owner('GET', `${V1}/settings/tokens`, { expect: 200 });
      const names = listed.json().map((token: { name: string }) => token.name);
      assert.deepEqual(names.sort(), ['ci', 'forever']);
      await owner('POST', `${V1}/settings/tokens`, { payload: { name: 'ci' }, expect: 409 });
      await owner('POST', `${V1}/settings/tokens`, {
        payload: { name: 'too-long', expires_in: 31_536_001 },
        expect: 400,
      });
      await owner('POST', `${V1}/settings/tokens`, { payload: {}, invalidRequest: true, expect: 400 });
      const id = listed.json().find((token: { name: string }) => token.name === 'ci').id;
      await owner('DELETE', `${V1}/settings/tokens/${id}`, { expect: 204 });
      await caller(t, pat)('GET', `${V1}/users/me`, { expect: 401 });
    });

    it("plans: the open edition's one plan; plan_binding: it with the tenant's device limit", async () => {
      const res = await admin('GET', `${V1}/plans`, { expect: 200 });
      assert.deepEqual(
        res.json().map((plan: { name: string }) => plan.name),
        ['os'],
      );
      assert.deepEqual((await admin('GET', `${V1}/plans?page=2`, { expect: 200 })).json(), []);
      const unlimited = (await admin('GET', `${V1}/plan_binding`, { expect: 200 })).json();
      assert.equal(unlimited.plan.name, 'os');
      assert.equal(unlimited.plan.features.audit_logs, true);
      assert.equal(unlimited.limits.devices, undefined, 'no device limit: none shown');
      await t.services.tenants.setMaxDevices(t.tenant.id, 7);
      try {
        assert.equal((await admin('GET', `${V1}/plan_binding`, { expect: 200 })).json().limits.devices, 7);
      } finally {
        await t.services.tenants.setMaxDevices(t.tenant.id, 0);
      }
    });

    it('answers 401 with the Error shape without a token and with a bad one', async () => {
      await anonymous('GET', `${V1}/users`, { expect: 401 });
      await caller(t, 'not.a.jwt')('GET', `${V1}/users`, { expect: 401 });
    });
  });
}
