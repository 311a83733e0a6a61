// Per built-in role, one representative route per permission (Mender, hawkBit and Kanto management): the routes
// the role allows answer as they answer the admin, the others 403 with Mender's error body and the RBAC text. That
// every route declares its permission is src/auth/permissions.test.ts; scoped roles are at the end.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { RBAC_FORBIDDEN } from '../../src/users/permission-sets.js';
import { adminToken, dialects, type TestApp, testApp } from '../support/app.js';
import { addArtifact } from '../support/deployment-fixtures.js';
import { addDevice } from '../support/inventory-fixtures.js';

const M1 = '/api/management/v1';
const M2 = '/api/management/v2';

interface Probe {
  permission: string;
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: (ids: { device: string; n: number }) => string;
  body?: (n: number) => unknown;
  /** What the route answers a caller it lets through (device connect: the test device is not connected). */
  status: number;
}

const PROBES: Probe[] = [
  { permission: 'self', method: 'GET', url: () => `${M1}/useradm/users/me`, status: 200 },
  { permission: 'self', method: 'GET', url: () => `${M1}/useradm/settings/me`, status: 200 },
  { permission: 'users:read', method: 'GET', url: () => `${M1}/useradm/users`, status: 200 },
  {
    permission: 'users:manage',
    method: 'POST',
    url: () => `${M2}/useradm/roles`,
    body: (n) => ({ name: `probe-${n}`, permission_sets_with_scope: [{ name: 'ReadDevices' }] }),
    status: 201,
  },
  { permission: 'auditlog:read', method: 'GET', url: () => `${M1}/auditlogs/logs`, status: 200 },
  { permission: 'releases:read', method: 'GET', url: () => `${M1}/deployments/artifacts`, status: 200 },
  { permission: 'releases:upload', method: 'POST', url: () => `${M1}/deployments/artifacts/directupload`, status: 200 },
  {
    permission: 'releases:manage',
    method: 'DELETE',
    url: () => `${M2}/deployments/deployments/releases?name=no-such-release`,
    status: 204,
  },
  { permission: 'devices:read', method: 'GET', url: () => `${M2}/devauth/devices`, status: 200 },
  {
    permission: 'devices:manage',
    method: 'PUT',
    url: ({ device }) => `${M1}/inventory/devices/${device}/group`,
    body: () => ({ group: 'probed' }),
    status: 204,
  },
  {
    permission: 'devices:connect',
    method: 'POST',
    url: ({ device }) => `${M1}/deviceconnect/devices/${device}/check-update`,
    status: 404,
  },
  {
    permission: 'devices:configure',
    method: 'PUT',
    url: ({ device }) => `${M1}/deviceconfig/configurations/device/${device}`,
    body: () => ({ probe: 'yes' }),
    status: 204,
  },
  { permission: 'deployments:read', method: 'GET', url: () => `${M1}/deployments/deployments`, status: 200 },
  {
    permission: 'deployments:deploy',
    method: 'DELETE',
    url: ({ device }) => `${M1}/deployments/deployments/devices/${device}`,
    status: 204,
  },
  { permission: 'tenant:admin', method: 'GET', url: () => '/api/ddi/v1/settings', status: 200 },
  // hawkBit and Kanto management routes: the route's own answer (no such target, no such thing) when let in.
  { permission: 'devices:read', method: 'GET', url: () => '/api/ddi/v1/targets/no-such-target', status: 404 },
  { permission: 'devices:read', method: 'GET', url: () => '/api/kanto/v1/devices/no:thing', status: 404 },
];

/** What each built-in role may do, as Mender describes its built-in roles (not derived from the code under test). */
const ALLOWED: Record<string, string[]> = {
  RBAC_ROLE_PERMIT_ALL: PROBES.map((p) => p.permission),
  RBAC_ROLE_OBSERVER: ['self', 'users:read', 'releases:read', 'devices:read', 'deployments:read'],
  RBAC_ROLE_CI: ['self', 'releases:read', 'releases:upload', 'releases:manage'],
  RBAC_ROLE_DEPLOYMENTS_MANAGER: ['self', 'releases:read', 'devices:read', 'deployments:read', 'deployments:deploy'],
  RBAC_ROLE_REMOTE_TERMINAL: ['self', 'devices:read', 'devices:connect'],
};

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

async function login(t: TestApp, email: string, roles: string[]): Promise<string> {
  await t.services.users.create(t.tenant.id, email, 'correct-horse-battery', undefined, roles);
  const res = await t.app.inject({
    method: 'POST',
    url: `${M1}/useradm/auth/login`,
    headers: { authorization: `Basic ${Buffer.from(`${email}:correct-horse-battery`).toString('base64')}` },
  });
  assert.equal(res.statusCode, 200);
  return res.body;
}

function assertForbidden(res: { statusCode: number; json(): unknown }, label: string) {
  assert.equal(res.statusCode, 403, label);
  const body = res.json() as { error: string; request_id: string };
  assert.equal(body.error, RBAC_FORBIDDEN, label);
  assert.match(body.request_id, /^[0-9a-f-]{36}$/, label);
}

for (const dialect of dialects) {
  describe(`built-in roles allow what Mender's do (${dialect})`, () => {
    let t: TestApp;
    let device: string;
    let n = 0;
    before(async () => {
      t = await testApp(dialect);
      await adminToken(t);
      device = (await addDevice(t)).id;
    });
    after(() => t.close());

    for (const [role, allowed] of Object.entries(ALLOWED)) {
      it(role, async () => {
        const token = await login(t, `${role.toLowerCase()}@example.com`, [role]);
        for (const probe of PROBES) {
          const res = await t.app.inject({
            method: probe.method,
            url: probe.url({ device, n: ++n }),
            headers: bearer(token),
            ...(probe.body ? { payload: probe.body(n) as object } : {}),
          });
          const label = `${role}: ${probe.method} ${probe.url({ device, n })}`;
          if (allowed.includes(probe.permission)) assert.equal(res.statusCode, probe.status, `${label}: ${res.body}`);
          else assertForbidden(res, label);
        }
      });
    }

    it('gives a user with no role their own account only', async () => {
      const token = await login(t, 'nobody@example.com', []);
      const me = await t.app.inject({ method: 'GET', url: `${M1}/useradm/users/me`, headers: bearer(token) });
      assert.equal(me.statusCode, 200);
      assert.deepEqual(me.json().roles, []);
      assertForbidden(
        await t.app.inject({ method: 'GET', url: `${M2}/devauth/devices`, headers: bearer(token) }),
        'devices',
      );
      // Nor may anyone give themselves a role: assigning roles is user management.
      const escalate = await t.app.inject({
        method: 'PUT',
        url: `${M1}/useradm/users/me`,
        headers: bearer(token),
        payload: { roles: ['RBAC_ROLE_PERMIT_ALL'] },
      });
      assertForbidden(escalate, 'own roles');
      const still = await t.app.inject({ method: 'GET', url: `${M1}/useradm/users/me`, headers: bearer(token) });
      assert.deepEqual(still.json().roles, [], 'nothing was written');
    });

    /** A user holding one custom role: the permission sets, each scoped as given. Returns their token. */
    async function scopedUser(admin: string, name: string, scope: Record<string, string[]>, sets: string[]) {
      const [type, value] = Object.entries(scope)[0];
      const created = await t.app.inject({
        method: 'POST',
        url: `${M2}/useradm/roles`,
        headers: bearer(admin),
        payload: { name, permission_sets_with_scope: sets.map((set) => ({ name: set, scope: { type, value } })) },
      });
      assert.equal(created.statusCode, 201, created.body);
      return login(t, `${name}@example.com`, [name]);
    }

    it('limits a role scoped to a device group to the devices of that group', async () => {
      const admin = await adminToken(t);
      const inGroup = (await addDevice(t)).id;
      const outside = (await addDevice(t)).id;
      const group = await t.app.inject({
        method: 'PUT',
        url: `${M1}/inventory/devices/${inGroup}/group`,
        headers: bearer(admin),
        payload: { group: 'lab' },
      });
      assert.equal(group.statusCode, 204);
      const token = await scopedUser(admin, 'lab', { DeviceGroups: ['lab'] }, ['ReadDevices', 'DeployToDevices']);
      const get = (url: string) => t.app.inject({ method: 'GET', url, headers: bearer(token) });
      assert.equal((await get(`${M1}/inventory/devices/${inGroup}`)).statusCode, 200);
      assertForbidden(await get(`${M1}/inventory/devices/${outside}`), 'a device outside the group');
      assertForbidden(await get(`${M2}/devauth/devices/${outside}`), 'its auth sets');
      assert.equal((await get(`${M1}/inventory/groups/lab/devices`)).statusCode, 200);
      assertForbidden(await get(`${M1}/inventory/groups/other/devices`), 'another group');
      // The inventory's list and search show the group's devices only; lists that are not narrowed stay closed.
      const listed = await get(`${M1}/inventory/devices?per_page=500`);
      assert.equal(listed.statusCode, 200);
      assert.deepEqual(
        listed.json().map((d: { id: string }) => d.id),
        [inGroup],
      );
      const searched = await t.app.inject({
        method: 'POST',
        url: `${M2}/inventory/filters/search`,
        headers: bearer(token),
        payload: { per_page: 500 },
      });
      assert.deepEqual(
        searched.json().map((d: { id: string }) => d.id),
        [inGroup],
      );
      assert.equal(searched.headers['x-total-count'], '1');
      const everything = await t.app.inject({
        method: 'POST',
        url: `${M2}/inventory/filters/search`,
        headers: bearer(admin),
        payload: { per_page: 500 },
      });
      assert.ok(everything.json().length >= 3, 'the admin sees the whole fleet');
      assertForbidden(await get(`${M2}/devauth/devices`), 'the device admission list');
      const abort = (id: string) =>
        t.app.inject({ method: 'DELETE', url: `${M1}/deployments/deployments/devices/${id}`, headers: bearer(token) });
      assert.equal((await abort(inGroup)).statusCode, 204);
      assertForbidden(await abort(outside), 'aborting outside the group');
    });

    it('limits a role scoped to release tags to the releases carrying them', async () => {
      const admin = await adminToken(t);
      const RELEASES = `${M2}/deployments/deployments/releases`;
      await addArtifact(t, { name: 'beta-1' });
      await addArtifact(t, { name: 'stable-1' });
      const tagged = await t.app.inject({
        method: 'PUT',
        url: `${RELEASES}/beta-1/tags`,
        headers: bearer(admin),
        payload: ['beta'],
      });
      assert.equal(tagged.statusCode, 204, tagged.body);
      // A tag scope is case-insensitive, as release tags are.
      const token = await scopedUser(admin, 'beta', { ReleaseTags: ['Beta'] }, ['ReadReleases', 'ManageReleases']);
      const get = (name: string) => t.app.inject({ method: 'GET', url: `${RELEASES}/${name}`, headers: bearer(token) });
      assert.equal((await get('beta-1')).statusCode, 200);
      assertForbidden(await get('stable-1'), 'a release without the tag');
      assertForbidden(await get('no-such-release'), 'an unknown release');
      const notes = (name: string) =>
        t.app.inject({ method: 'PATCH', url: `${RELEASES}/${name}`, headers: bearer(token), payload: { notes: 'x' } });
      assert.equal((await notes('beta-1')).statusCode, 204);
      assertForbidden(await notes('stable-1'), 'editing a release without the tag');
      assertForbidden(
        await t.app.inject({ method: 'GET', url: `${M1}/deployments/artifacts`, headers: bearer(token) }),
        'the unfiltered artifact list',
      );
    });
  });
}
