// Issue 15, part 2: the operator API for tenants (/api/admin/v1/tenants, FLOTILLA_ADMIN_TOKEN) and the
// `flotilla tenant` commands. A tenant made here is a tenant for real: its admin logs in by email and lands in it,
// its limits are what Mender's routes report. Both SQL dialects (the command line on SQLite, its data directory).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildApp } from '../../src/app.js';
import { defaultConfig, parseFlags } from '../../src/config.js';
import { main } from '../../src/main.js';
import { tenantCommand } from '../../src/tenants/cli.js';
import { dialects, type TestApp, testApp } from '../support/app.js';

const ADMIN = '/api/admin/v1/tenants';
const OPERATOR_TOKEN = 'operator-secret-for-tests-0123456789';

function login(t: TestApp, email: string, password: string) {
  return t.app.inject({
    method: 'POST',
    url: '/api/management/v1/useradm/auth/login',
    headers: { authorization: `Basic ${Buffer.from(`${email}:${password}`).toString('base64')}` },
  });
}

for (const dialect of dialects) {
  describe(`operator API for tenants (${dialect})`, () => {
    let t: TestApp;
    let closed: TestApp;
    before(async () => {
      t = await testApp(dialect, { operatorToken: OPERATOR_TOKEN });
      closed = await testApp(dialect);
    });
    after(async () => {
      await t.close();
      await closed.close();
    });

    const operator = (method: 'GET' | 'POST' | 'PUT', url: string, payload?: object, token = OPERATOR_TOKEN) =>
      t.app.inject({ method, url, headers: { authorization: `Bearer ${token}` }, ...(payload ? { payload } : {}) });

    it('does not exist without FLOTILLA_ADMIN_TOKEN, and wants exactly that token when set', async () => {
      const hidden = await closed.app.inject({
        method: 'GET',
        url: ADMIN,
        headers: { authorization: `Bearer ${OPERATOR_TOKEN}` },
      });
      assert.equal(hidden.statusCode, 404);
      assert.equal(hidden.json().error, 'not found');
      assert.equal((await t.app.inject({ method: 'GET', url: ADMIN })).statusCode, 401);
      for (const wrong of ['nope', `${OPERATOR_TOKEN}x`, OPERATOR_TOKEN.slice(1)]) {
        const res = await operator('GET', ADMIN, undefined, wrong);
        assert.equal(res.statusCode, 401, wrong);
        assert.ok(res.json().error && res.json().request_id, 'Mender error shape');
      }
      // A tenant admin's own token is no operator token.
      await t.services.users.create(t.tenant.id, 'tenant-admin@example.com', 'correct-horse-1');
      const userToken = (await login(t, 'tenant-admin@example.com', 'correct-horse-1')).body;
      assert.equal((await operator('GET', ADMIN, undefined, userToken)).statusCode, 401);
      const listed = await operator('GET', ADMIN);
      assert.equal(listed.statusCode, 200);
      assert.deepEqual(
        listed.json().map((tenant: { name: string; default: boolean }) => [tenant.name, tenant.default]),
        [['default', true]],
      );
    });

    it('creates a tenant with its first admin, who logs in by email into it alone', async () => {
      const res = await operator('POST', ADMIN, {
        name: 'acme',
        max_devices: 10,
        admin_email: 'Admin@Acme.example',
        admin_password: 'correct-horse-2',
      });
      assert.equal(res.statusCode, 201, res.body);
      const { tenant, admin } = res.json();
      assert.equal(tenant.name, 'acme');
      assert.equal(tenant.hawkbit_name, 'ACME');
      assert.equal(tenant.max_devices, 10);
      assert.equal(tenant.default, false);
      assert.notEqual(tenant.tenant_token, t.tenant.tenant_token);
      assert.equal(admin.email, 'admin@acme.example');
      const token = await login(t, 'admin@acme.example', 'correct-horse-2');
      assert.equal(token.statusCode, 200);
      const me = await t.app.inject({
        method: 'GET',
        url: '/api/management/v1/tenantadm/user/tenant',
        headers: { authorization: `Bearer ${token.body}` },
      });
      assert.equal(me.json().id, tenant.id, "login chose the user's tenant by the email");
      const limit = await t.app.inject({
        method: 'GET',
        url: '/api/management/v2/devauth/limits/max_devices',
        headers: { authorization: `Bearer ${token.body}` },
      });
      assert.deepEqual(limit.json(), { limit: 10 });
      const shown = await operator('GET', `${ADMIN}/acme`);
      assert.equal(shown.json().id, tenant.id);
      assert.equal((await operator('GET', `${ADMIN}/${tenant.id}`)).json().name, 'acme');
    });

    it('refuses bad input with nothing written: names, limits, emails, passwords, a taken email or name', async () => {
      const count = async () => (await operator('GET', ADMIN)).json().length;
      const before = await count();
      for (const body of [
        {},
        { name: 'has space' },
        { name: 'ok-1', max_devices: -1 },
        { name: 'ok-2', storage_limit: 'lots' },
        { name: 'ok-4', admin_email: 'not-an-email', admin_password: 'correct-horse-3' },
        { name: 'ok-5', admin_email: 'short@example.com', admin_password: 'x' },
      ]) {
        const res = await operator('POST', ADMIN, body);
        // A password too short is useradm's 422, as when a tenant admin creates a user.
        assert.equal(res.statusCode, body.admin_password === 'x' ? 422 : 400, JSON.stringify(body));
        assert.ok(res.json().error);
      }
      const taken = await operator('POST', ADMIN, {
        name: 'ok-6',
        admin_email: 'admin@acme.example',
        admin_password: 'correct-horse-3',
      });
      assert.equal(taken.statusCode, 409);
      assert.equal((await operator('POST', ADMIN, { name: 'ACME' })).statusCode, 409);
      assert.equal(await count(), before);
      assert.equal((await operator('GET', `${ADMIN}/ok-6`)).statusCode, 404);
    });

    it("sets limits by name or id; Mender's routes and plan_binding show them at once", async () => {
      const acme = (await operator('GET', `${ADMIN}/acme`)).json();
      const set = await operator('PUT', `${ADMIN}/ACME/limits`, { max_devices: 3, storage_limit: 4096 });
      assert.equal(set.statusCode, 200, set.body);
      assert.deepEqual([set.json().max_devices, set.json().storage_limit], [3, 4096]);
      const token = (await login(t, 'admin@acme.example', 'correct-horse-2')).body;
      const get = (url: string) =>
        t.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } }).then((r) => r.json());
      assert.deepEqual(await get('/api/management/v2/devauth/limits/max_devices'), { limit: 3 });
      assert.equal((await get('/api/management/v1/deployments/limits/storage')).limit, 4096);
      assert.equal((await get('/api/management/v1/useradm/plan_binding')).limits.devices, 3);
      const cleared = await operator('PUT', `${ADMIN}/${acme.id}/limits`, { max_devices: 0 });
      assert.equal(cleared.json().storage_limit, 4096, 'a limit not given stays');
      assert.deepEqual(await get('/api/management/v2/devauth/limits/max_devices'), { limit: -1 });
      assert.equal((await operator('PUT', `${ADMIN}/acme/limits`, {})).statusCode, 400);
      assert.equal((await operator('PUT', `${ADMIN}/nobody/limits`, { max_devices: 1 })).statusCode, 404);
    });

    it('is in the OpenAPI document, with the operator security scheme', async () => {
      const doc = (await t.app.inject({ method: 'GET', url: '/api/openapi.json' })).json();
      for (const path of [ADMIN, `${ADMIN}/{tenant}`, `${ADMIN}/{tenant}/limits`]) assert.ok(doc.paths[path], path);
      assert.deepEqual(doc.paths[ADMIN].post.security, [{ OperatorToken: [] }]);
      assert.ok(doc.components.securitySchemes.OperatorToken);
    });
  });
}

describe('flotilla tenant (command line, SQLite)', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'flotilla-tenant-cli-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** `flotilla tenant ...` in this process (a child process costs seconds here): what it prints, as JSON. */
  async function tenant(...args: string[]) {
    const { flags, rest } = parseFlags([...args, '--data', dir, '--database-url', '']);
    let printed = '';
    await tenantCommand(rest[0], rest.slice(1), flags, { write: (text: string) => (printed += text) });
    return JSON.parse(printed);
  }

  it('creates, lists, shows and limits tenants', async () => {
    const { tenant: shop } = await tenant('create', 'shop', '--max-devices', '10', '--storage-limit', '1000');
    assert.deepEqual([shop.name, shop.max_devices, shop.storage_limit], ['shop', 10, 1000]);
    const limited = await tenant('set-limits', 'SHOP', '--max-devices', '11');
    assert.deepEqual([limited.max_devices, limited.storage_limit], [11, 1000]);
    const listed = await tenant('list');
    assert.deepEqual(
      listed.map((row: { name: string }) => row.name),
      ['default', 'shop'],
    );
    assert.equal((await tenant('show', shop.id)).max_devices, 11);
  });

  it('creates a user in the tenant named, who logs in into it', async () => {
    // `main` prints the new user; it shows among the test's output, harmlessly.
    await main([
      'user',
      'create',
      '--email',
      'ops@shop.example',
      '--password',
      'correct-horse-4',
      '--tenant',
      'shop',
      '--data',
      dir,
      '--database-url',
      '',
    ]);
    assert.equal(process.exitCode ?? 0, 0);
    const app = await buildApp({ ...defaultConfig(), dataDir: dir, mqttPort: 'off', logLevel: 'silent', port: 0 });
    try {
      const shop = await app.services.tenants.find('shop');
      const token = await app.inject({
        method: 'POST',
        url: '/api/management/v1/useradm/auth/login',
        headers: { authorization: `Basic ${Buffer.from('ops@shop.example:correct-horse-4').toString('base64')}` },
      });
      const tenant = await app.inject({
        method: 'GET',
        url: '/api/management/v1/tenantadm/user/tenant',
        headers: { authorization: `Bearer ${token.body}` },
      });
      assert.equal(tenant.json().id, shop?.id);
    } finally {
      await app.close();
    }
  });

  it('names what is wrong', async () => {
    for (const [args, message] of [
      [['create', 'shop'], /exists already/],
      [['create', 'bad/name'], /tenant name/],
      [['set-limits', 'shop'], /needs --max-devices/],
      [['set-limits', 'shop', '--max-devices', 'many'], /whole number/],
      [['show', 'nobody'], /no tenant nobody/],
      [['rename', 'shop'], /unknown action/],
    ] as const) {
      await assert.rejects(tenant(...args), message, args.join(' '));
    }
  });
});
