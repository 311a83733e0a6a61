// Mender useradm roles and permission sets through the API: built-in roles listed and unchangeable, custom roles
// created, shown, changed and removed on v1 and v2 with Mender's validation and errors, user roles assigned and
// shown, and every change in the audit log.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { adminToken, dialects, type TestApp, testApp } from '../../../test/support/app.js';

const V1 = '/api/management/v1/useradm';
const V2 = '/api/management/v2/useradm';
const BUILT_IN = [
  'RBAC_ROLE_PERMIT_ALL',
  'RBAC_ROLE_OBSERVER',
  'RBAC_ROLE_CI',
  'RBAC_ROLE_DEPLOYMENTS_MANAGER',
  'RBAC_ROLE_REMOTE_TERMINAL',
];

for (const dialect of dialects) {
  describe(`useradm roles (${dialect})`, () => {
    let t: TestApp;
    let admin: string;
    before(async () => {
      t = await testApp(dialect);
      admin = await adminToken(t);
    });
    after(() => t.close());

    const call = (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: unknown) =>
      t.app.inject({
        method,
        url,
        headers: { authorization: `Bearer ${admin}` },
        ...(payload === undefined ? {} : { payload: payload as object }),
      });
    const roleNames = async () => ((await call('GET', `${V1}/roles`)).json() as { name: string }[]).map((r) => r.name);
    const auditOf = async (objectType: string) =>
      (await call('GET', `/api/management/v1/auditlogs/logs?object_type=${objectType}&per_page=100`)).json() as {
        action: string;
        object: { id: string };
        change?: string;
      }[];

    it('lists the built-in roles and the permission sets', async () => {
      assert.deepEqual(await roleNames(), BUILT_IN);
      const v2 = await call('GET', `${V2}/roles?per_page=2`);
      assert.equal(v2.statusCode, 200);
      assert.equal(v2.headers['x-total-count'], String(BUILT_IN.length));
      assert.deepEqual(
        v2.json().map((r: { name: string }) => r.name),
        BUILT_IN.slice(0, 2),
      );
      const observer = (await call('GET', `${V2}/roles/RBAC_ROLE_OBSERVER`)).json();
      assert.deepEqual(
        observer.permission_sets_with_scope.map((s: { name: string }) => s.name),
        ['ReadDevices', 'ReadReleases', 'ReadUsers'],
      );
      const sets = (await call('GET', `${V2}/permission_sets?per_page=500`)).json() as {
        name: string;
        supported_scope_types?: string[];
      }[];
      assert.ok(sets.length >= 13);
      assert.deepEqual(sets.find((s) => s.name === 'ReadDevices')?.supported_scope_types, ['DeviceGroups']);
      assert.deepEqual(sets.find((s) => s.name === 'ManageReleases')?.supported_scope_types, ['ReleaseTags']);
      assert.equal(sets.find((s) => s.name === 'UploadArtifacts')?.supported_scope_types, undefined);
      assert.equal((await call('GET', `${V2}/permission_sets/ConnectToDevices`)).statusCode, 200);
      assert.equal((await call('GET', `${V2}/permission_sets/NoSuchSet`)).statusCode, 404);
    });

    it('creates, shows, changes and removes a custom role on v1 and v2', async () => {
      const created = await call('POST', `${V2}/roles`, {
        name: 'testers',
        description: 'Test bench',
        permission_sets_with_scope: [
          { name: 'ReadDevices', scope: { type: 'DeviceGroups', value: ['bench', 'bench'] } },
          { name: 'ReadReleases', scope: { type: 'ReleaseTags', value: ['Beta'] } },
        ],
      });
      assert.equal(created.statusCode, 201, created.body);
      assert.equal(created.headers.location, `${V2}/roles/testers`);
      const shown = await call('GET', `${V1}/roles/testers`);
      assert.deepEqual(shown.json(), {
        name: 'testers',
        description: 'Test bench',
        permission_sets_with_scope: [
          { name: 'ReadDevices', scope: { type: 'DeviceGroups', value: ['bench'] } },
          { name: 'ReadReleases', scope: { type: 'ReleaseTags', value: ['beta'] } },
        ],
      });
      const v1Update = await call('PUT', `${V1}/roles/testers`, {
        description: 'Whole fleet',
        permission_sets_with_scope: [{ name: 'ReadDevices' }],
      });
      assert.equal(v1Update.statusCode, 202);
      const v2Update = await call('PUT', `${V2}/roles/testers`, {
        name: 'testers',
        description: 'Whole fleet, deploying',
        permission_sets_with_scope: [{ name: 'ReadDevices' }, { name: 'DeployToDevices' }],
      });
      assert.equal(v2Update.statusCode, 200);
      assert.equal((await call('GET', `${V2}/roles/testers`)).json().description, 'Whole fleet, deploying');
      assert.deepEqual(await roleNames(), [...BUILT_IN, 'testers']);
      assert.equal((await call('DELETE', `${V2}/roles/testers`)).statusCode, 204);
      assert.equal((await call('GET', `${V2}/roles/testers`)).statusCode, 404);
      assert.equal((await call('DELETE', `${V1}/roles/testers`)).statusCode, 204, 'removing again is no error');
      const audit = await auditOf('role');
      assert.deepEqual(
        audit.map((e) => `${e.action} ${e.object.id}`),
        ['delete testers', 'update testers', 'update testers', 'create testers'],
      );
      assert.match(audit[1].change ?? '', /DeployToDevices/);
    });

    it('refuses bad roles with 400 (409 for a taken name) and writes nothing', async () => {
      const before = await roleNames();
      const auditBefore = (await auditOf('role')).length;
      const refused: [unknown, number, RegExp][] = [
        [{ name: 'x', permission_sets_with_scope: [{ name: 'MakeCoffee' }] }, 400, /unknown permission set/],
        [
          {
            name: 'x',
            permission_sets_with_scope: [{ name: 'ReadDevices', scope: { type: 'ReleaseTags', value: ['a'] } }],
          },
          400,
          /cannot be scoped by ReleaseTags/,
        ],
        [
          {
            name: 'x',
            permission_sets_with_scope: [{ name: 'UploadArtifacts', scope: { type: 'ReleaseTags', value: ['a'] } }],
          },
          400,
          /cannot be scoped/,
        ],
        [
          {
            name: 'x',
            permission_sets_with_scope: [{ name: 'ReadDevices', scope: { type: 'DeviceGroups', value: [] } }],
          },
          400,
          /scope/,
        ],
        [{ name: 'a/b', permission_sets_with_scope: [] }, 400, /name/],
        [{ permission_sets_with_scope: [] }, 400, /name/],
        [{ name: 'x', permissions: [{ action: 'http', object: { type: 'any', value: '.*' } }] }, 400, /permissions/],
        [{ name: 'x', permission_sets_with_scope: 'ReadDevices' }, 400, /permission_sets_with_scope/],
        [{ name: 'RBAC_ROLE_OBSERVER', permission_sets_with_scope: [] }, 409, /already exists/],
      ];
      for (const [body, status, message] of refused) {
        const res = await call('POST', `${V2}/roles`, body);
        assert.equal(res.statusCode, status, JSON.stringify(body));
        assert.match(res.json().error, message, JSON.stringify(body));
        assert.ok(res.json().request_id);
      }
      assert.equal((await call('POST', `${V2}/roles`, { name: 'once' })).statusCode, 201);
      const again = await call('POST', `${V1}/roles`, { name: 'once' });
      assert.equal(again.statusCode, 409);
      assert.equal(again.json().error, 'role already exists');
      const renamed = await call('PUT', `${V2}/roles/once`, { name: 'twice' });
      assert.equal(renamed.statusCode, 400);
      assert.equal((await call('PUT', `${V2}/roles/nobody`, { description: '' })).statusCode, 404);
      for (const v of [V1, V2]) {
        const change = await call('PUT', `${v}/roles/RBAC_ROLE_PERMIT_ALL`, { permission_sets_with_scope: [] });
        assert.equal(change.statusCode, 400);
        assert.equal(change.json().error, 'built-in roles cannot be changed');
        const remove = await call('DELETE', `${v}/roles/RBAC_ROLE_OBSERVER`);
        assert.equal(remove.statusCode, 400);
        assert.equal(remove.json().error, 'built-in roles cannot be removed');
      }
      assert.deepEqual(await roleNames(), [...before, 'once']);
      assert.equal((await auditOf('role')).length, auditBefore + 1, 'only the one creation is audited');
      assert.equal((await call('DELETE', `${V2}/roles/once`)).statusCode, 204);
    });

    it('assigns roles on user create and update, shows them, and takes a removed role from its holders', async () => {
      assert.equal(
        (
          await call('POST', `${V2}/roles`, {
            name: 'auditors',
            permission_sets_with_scope: [{ name: 'ReadAuditLogs' }],
          })
        ).statusCode,
        201,
      );
      const unknown = await call('POST', `${V1}/users`, {
        email: 'carol@example.com',
        password: 'correct-horse-battery',
        roles: ['RBAC_ROLE_OBSERVER', 'no-such-role'],
      });
      assert.equal(unknown.statusCode, 400);
      assert.match(unknown.json().error, /no such role: no-such-role/);
      assert.deepEqual((await call('GET', `${V1}/users?email=carol@example.com`)).json(), [], 'nobody was created');

      const created = await call('POST', `${V1}/users`, {
        email: 'carol@example.com',
        password: 'correct-horse-battery',
        roles: ['RBAC_ROLE_OBSERVER', 'auditors'],
      });
      assert.equal(created.statusCode, 201, created.body);
      const id = String(created.headers.location).split('/').pop();
      assert.deepEqual((await call('GET', `${V1}/users/${id}`)).json().roles, ['RBAC_ROLE_OBSERVER', 'auditors']);
      const listed = (await call('GET', `${V1}/users`)).json() as { email: string; roles: string[] }[];
      assert.deepEqual(listed.find((u) => u.email === 'admin@example.com')?.roles, ['RBAC_ROLE_PERMIT_ALL']);
      assert.deepEqual((await call('GET', `${V1}/users/me`)).json().roles, ['RBAC_ROLE_PERMIT_ALL']);

      const changed = await call('PUT', `${V1}/users/${id}`, { roles: ['RBAC_ROLE_CI', 'auditors'] });
      assert.equal(changed.statusCode, 204, changed.body);
      assert.deepEqual((await call('GET', `${V1}/users/${id}`)).json().roles, ['RBAC_ROLE_CI', 'auditors']);
      const badChange = await call('PUT', `${V1}/users/${id}`, { roles: ['nope'] });
      assert.equal(badChange.statusCode, 400);
      assert.deepEqual((await call('GET', `${V1}/users/${id}`)).json().roles, ['RBAC_ROLE_CI', 'auditors']);

      assert.equal((await call('DELETE', `${V2}/roles/auditors`)).statusCode, 204);
      assert.deepEqual((await call('GET', `${V1}/users/${id}`)).json().roles, ['RBAC_ROLE_CI']);

      const userAudit = (await auditOf('user')).filter((e) => e.object.id === id);
      assert.deepEqual(
        userAudit.map((e) => `${e.action}: ${e.change}`),
        ['update: changed: roles (RBAC_ROLE_CI, auditors)', 'create: roles: RBAC_ROLE_OBSERVER, auditors'],
      );
    });
  });
}
