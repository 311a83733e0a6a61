// Every route the app serves has an audience some rule of the guard names (none falls to the closed default), the
// open routes are exactly the ones meant to be open, and a path no rule names needs a user token.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { registeredRoutes } from '../../test/contract/served-routes.js';
import { adminToken, type TestApp, testApp } from '../../test/support/app.js';
import { testDevice } from '../../test/support/device.js';
import { audienceOf, explicitAudienceOf } from './guard.js';

/** The routes that take no Flotilla token, each for its own reason (see the rules in guard.ts). */
const OPEN_ROUTES = [
  'GET /api/openapi.json',
  'POST /api/management/v1/useradm/auth/login',
  'POST /api/devices/v1/authentication/auth_requests',
  'GET /api/devices/v1/deployments/download/configuration/:deployment_id/:device_type/:device_id',
  'GET /api/downloads/v1/:tenant/artifacts/:id',
  'PUT /api/uploads/v1/:tenant/artifacts/:id',
  // Probes, and metrics (which check a token of their own or the client's address: test/ops/metrics.test.ts).
  'GET /health',
  'GET /ready',
  'GET /metrics',
  // The API browser: static pages and the document it reads.
  'GET /api/docs',
  'GET /api/docs/',
  'GET /api/docs/*',
  'GET /api/docs/json',
  'GET /api/docs/static/index.html',
  'GET /api/docs/static/swagger-initializer.js',
  'GET /api/docs/yaml',
  // The web UI's files (src/web/ui.ts): no data; the app logs in through the management API.
  'GET /',
  'GET /ui/',
  'GET /ui/:page',
  'GET /ui/:page/:id',
  'GET /ui/assets/:file',
];

describe('auth guard audiences', () => {
  let t: TestApp;
  let admin: string;
  before(async () => {
    t = await testApp('sqlite');
    admin = await adminToken(t);
  });
  after(() => t.close());

  const routes = () => registeredRoutes(t.app).filter((r) => r.method !== 'HEAD');

  it('names an audience for every registered route', () => {
    assert.ok(routes().length > 100, 'the route listing works');
    const unnamed = routes()
      .filter((r) => explicitAudienceOf(r.url) === undefined)
      .map((r) => `${r.method} ${r.url}`);
    assert.deepEqual(unnamed, [], 'routes that only the closed default protects');
  });

  it('leaves open exactly the routes that authenticate otherwise', () => {
    const open = routes()
      .filter((r) => audienceOf(r.url) === 'none' && !/^\/:tenant\/controller\/v1\//.test(r.url))
      .map((r) => `${r.method} ${r.url}`);
    assert.deepEqual(open.sort(), [...OPEN_ROUTES].sort());
    const ddi = routes().filter((r) => /^\/:tenant\/controller\/v1\//.test(r.url));
    assert.ok(ddi.length > 5 && ddi.every((r) => audienceOf(r.url) === 'none'), 'DDI authenticates itself');
  });

  it('wants a user token for management, a device token for device routes', () => {
    for (const r of routes()) {
      const label = `${r.method} ${r.url}`;
      if (OPEN_ROUTES.includes(label)) continue;
      if (/^\/api\/(management|kanto|ddi)\//.test(r.url)) assert.equal(audienceOf(r.url), 'user', label);
      if (r.url.startsWith('/api/devices/')) assert.equal(audienceOf(r.url), 'device', label);
    }
  });

  it('answers 401 for a path no route serves without a token, and the JSON 404 with one', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/no/such/path' });
    assert.equal(res.statusCode, 401);
    const known = await t.app.inject({
      method: 'GET',
      url: '/no/such/path',
      headers: { authorization: `Bearer ${admin}` },
    });
    assert.equal(known.statusCode, 404);
    assert.equal(known.json().error, 'not found');
    const device = await testDevice({ mac: '0c:00:00:00:00:01' }, 'ed25519').enroll(t.app, admin);
    const devicePath = await t.app.inject({
      method: 'GET',
      url: '/api/devices/v1/no-such-route',
      headers: { authorization: `Bearer ${device.token}` },
    });
    assert.equal(devicePath.statusCode, 404, 'device paths keep wanting a device token');
    assert.equal((await t.app.inject({ method: 'GET', url: '/api/devices/v1/no-such-route' })).statusCode, 401);
  });

  it("leaves /api/admin/ to the server administrator's check: a tenant admin's token is not enough", async () => {
    assert.equal(audienceOf('/api/admin/v1/tenants'), 'server-admin');
    const res = await t.app.inject({
      method: 'GET',
      url: '/api/admin/v1/tenants',
      headers: { authorization: `Bearer ${admin}` },
    });
    // No operator token is configured in this app, so the operator API does not exist for anyone (with one, a
    // tenant's token is 401: test/tenants/operator.test.ts).
    assert.equal(res.statusCode, 404);
  });

  it('judges by the route the router matched, not by how the URL is spelled', async () => {
    // The router decodes %6D to `m`; the guard must see the management route it serves, not an unknown path.
    const res = await t.app.inject({ method: 'GET', url: '/api/%6Danagement/v2/devauth/devices' });
    assert.equal(res.statusCode, 401);
    const signed = await t.app.inject({
      method: 'GET',
      url: '/api/%6Danagement/v2/devauth/devices',
      headers: { authorization: `Bearer ${admin}` },
    });
    assert.equal(signed.statusCode, 200);
  });
});
