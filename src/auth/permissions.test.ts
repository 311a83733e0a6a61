// Every user route the app serves declares the permission it needs in src/auth/permissions.ts (the one table), the
// table names no route that is not served, and the built-in roles grant what Mender's built-in roles do.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { registeredRoutes } from '../../test/contract/served-routes.js';
import { type TestApp, testApp } from '../../test/support/app.js';
import { accessOf, BUILT_IN_ROLES, PERMISSIONS, permissionSetByName } from '../users/permission-sets.js';
import { audienceOf } from './guard.js';
import { ROUTE_PERMISSIONS, routeAccessOf } from './permissions.js';

describe('route permissions', () => {
  let t: TestApp;
  before(async () => {
    t = await testApp('sqlite');
  });
  after(() => t.close());

  const userRoutes = () => registeredRoutes(t.app).filter((r) => r.method !== 'HEAD' && audienceOf(r.url) === 'user');

  it('declares a permission for every served user route (Mender, hawkBit and Kanto management)', () => {
    const routes = userRoutes();
    assert.ok(routes.length > 100, 'the route listing works');
    assert.ok(routes.some((r) => r.url.startsWith('/api/ddi/')) && routes.some((r) => r.url.startsWith('/api/kanto/')));
    const undeclared = routes.filter((r) => !routeAccessOf(r.method, r.url)).map((r) => `${r.method} ${r.url}`);
    assert.deepEqual(undeclared, [], 'user routes without a permission in src/auth/permissions.ts');
  });

  it('names only served routes, with params its scope checks can read', () => {
    const served = new Set(userRoutes().map((r) => `${r.method} ${r.url}`));
    const stale = Object.keys(ROUTE_PERMISSIONS).filter((key) => !served.has(key));
    assert.deepEqual(stale, [], 'table entries for routes the app does not serve');
    for (const [key, route] of Object.entries(ROUTE_PERMISSIONS)) {
      for (const param of [route.self, route.device, route.group, route.release]) {
        if (param) assert.ok(key.includes(`/:${param}`), `${key}: no :${param} in the path`);
      }
    }
  });

  it('has the built-in roles grant what Mender gives them', () => {
    const granted = (name: string) => {
      const role = BUILT_IN_ROLES.find((r) => r.name === name);
      assert.ok(role, name);
      return [...accessOf([role]).entries()].filter(([, g]) => g === 'all').map(([p]) => p);
    };
    assert.deepEqual(granted('RBAC_ROLE_PERMIT_ALL').sort(), [...PERMISSIONS].sort());
    assert.deepEqual(granted('RBAC_ROLE_OBSERVER').sort(), [
      'deployments:read',
      'devices:read',
      'releases:read',
      'users:read',
    ]);
    assert.deepEqual(granted('RBAC_ROLE_CI').sort(), ['releases:manage', 'releases:read', 'releases:upload']);
    assert.deepEqual(granted('RBAC_ROLE_DEPLOYMENTS_MANAGER').sort(), [
      'deployments:deploy',
      'deployments:read',
      'devices:read',
      'releases:read',
    ]);
    assert.deepEqual(granted('RBAC_ROLE_REMOTE_TERMINAL').sort(), ['devices:connect', 'devices:read']);
  });

  it('scopes a scoped permission set and lets an unscoped grant win', () => {
    const scoped = accessOf([
      {
        name: 'testers',
        description: '',
        permission_sets_with_scope: [{ name: 'ReadDevices', scope: { type: 'DeviceGroups', value: ['test'] } }],
      },
    ]);
    const grant = scoped.get('devices:read');
    assert.ok(grant && grant !== 'all' && grant.groups.has('test') && grant.groups.size === 1);
    const both = accessOf([
      { name: 'a', description: '', permission_sets_with_scope: [{ name: 'ReadDevices' }] },
      {
        name: 'b',
        description: '',
        permission_sets_with_scope: [{ name: 'ReadDevices', scope: { type: 'DeviceGroups', value: ['x'] } }],
      },
    ]);
    assert.equal(both.get('devices:read'), 'all');
    assert.equal(permissionSetByName.get('UploadArtifacts')?.scopeTypes.length, 0, 'upload is never scoped');
  });
});
