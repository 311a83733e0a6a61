// Issue 15, parts 2 and 3 through inject, both SQL dialects: two tenants, each with a Mender device, a DDI target, a
// Kanto thing (on the embedded MQTT broker), an artifact, a deployment and a device log. Every GET route of the
// management APIs (Mender, DDI, Kanto) is walked with the other tenant's token, its path filled with this tenant's
// ids: no answer carries anything of this tenant's. Credentials of one tenant (user token, target token, gateway
// token, MQTT username) used against the other are refused; a deployment never reaches the other's devices.
// Limits: the 11th device of a tenant limited to 10 is refused on every admission path; an upload past the storage
// limit is refused with nothing left behind. The real clients do the same in test/e2e/tenants.test.ts.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KantoDeviceSimulator } from '../../src/agent/kanto/device.js';
import { TenantOperator } from '../../src/tenants/operator.js';
import type { Tenant } from '../../src/tenants/service.js';
import { registeredRoutes } from '../contract/served-routes.js';
import { dialects, type TestApp, testApp } from '../support/app.js';
import { type TestDevice, testDevice } from '../support/device.js';

const DEPLOYMENTS = '/api/management/v1/deployments/deployments';
const DEVICE_DEPLOYMENTS = '/api/devices/v1/deployments/device/deployments';
const DEVAUTH = '/api/management/v2/devauth';
const PASSWORD = 'correct-horse-battery';

interface Side {
  tenant: Tenant;
  token: string;
  email: string;
  userId: string;
  mender: TestDevice & { token: string; deviceId: string; authSetId: string };
  ddi: { controllerId: string; deviceId: string; token: string; gateway: string };
  kanto: { thingId: string; deviceId: string; username: string; authId: string; password: string };
  artifact: { id: string; name: string };
  deploymentId: string;
  group: string;
  logLine: string;
}

/** Everything of a side that the other must never see. */
function markers(side: Side): string[] {
  return [
    side.tenant.id,
    side.tenant.tenant_token,
    side.email,
    side.userId,
    side.mender.deviceId,
    side.mender.authSetId,
    String(side.mender.identity.mac),
    side.ddi.controllerId,
    side.ddi.deviceId,
    side.kanto.thingId,
    side.kanto.deviceId,
    side.artifact.id,
    side.artifact.name,
    side.deploymentId,
    side.group,
    side.logLine,
  ];
}

/** Values to put in a route's path parameters, by the parameter's name. */
function candidates(side: Side, param: string): string[] {
  const devices = [side.mender.deviceId, side.ddi.deviceId, side.kanto.deviceId];
  switch (param) {
    case 'aid':
      return [side.mender.authSetId];
    case 'name':
      return [side.group];
    case 'release_name':
      return [side.artifact.name];
    case 'controllerId':
      return [side.ddi.controllerId];
    case 'device_id':
    case 'deviceId':
      return devices;
    case 'id':
      return [...devices, side.artifact.id, side.deploymentId, side.userId];
    default:
      return [side.mender.deviceId];
  }
}

/** Every concrete URL of `template` with `side`'s ids in its parameters. */
function fill(template: string, side: Side): string[] {
  let urls = [template];
  for (const [, param] of template.matchAll(/:([A-Za-z_]+)/g)) {
    urls = urls.flatMap((url) => candidates(side, param).map((value) => url.replace(`:${param}`, value)));
  }
  return urls;
}

for (const dialect of dialects) {
  describe(`two tenants, kept apart (${dialect})`, () => {
    let t: TestApp;
    let mqttUrl: string;
    const sides: Side[] = [];
    const things: KantoDeviceSimulator[] = [];
    const call = (token: string, method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: unknown) =>
      t.app.inject({
        method,
        url,
        headers: { authorization: `Bearer ${token}` },
        ...(payload === undefined ? {} : { payload: payload as object }),
      });

    async function login(email: string): Promise<string> {
      const res = await t.app.inject({
        method: 'POST',
        url: '/api/management/v1/useradm/auth/login',
        headers: { authorization: `Basic ${Buffer.from(`${email}:${PASSWORD}`).toString('base64')}` },
      });
      assert.equal(res.statusCode, 200, res.body);
      return res.body;
    }

    function kantoDevice(tenantId: string, thingId: string, username: string, password: string) {
      const device = new KantoDeviceSimulator({ url: mqttUrl, tenantId, thingId, topics: 'hono', username, password });
      things.push(device);
      return device;
    }

    async function side(name: string): Promise<Side> {
      const email = `admin@${name}.example`;
      const created = await new TenantOperator(t.services).create({ name, adminEmail: email, adminPassword: PASSWORD });
      const tenant = (await t.services.tenants.byId(created.tenant.id)) as Tenant;
      const token = await login(email);
      const suffix = randomBytes(3).toString('hex');
      // Mender: a device with the tenant's token, accepted by the tenant's admin.
      const device = testDevice({ mac: `${name}-${suffix}` }, 'ed25519');
      const enrolled = await device.enroll(t.app, token, tenant.tenant_token);
      const mender = Object.assign(device, enrolled);
      const group = `${name}-group-${suffix}`;
      assert.equal(
        (await call(token, 'PUT', `/api/management/v1/inventory/devices/${mender.deviceId}/group`, { group }))
          .statusCode,
        204,
      );
      // DDI: a pre-created target, and a gateway token for the tenant.
      const controllerId = `${name}-target-${suffix}`;
      const target = await call(token, 'POST', '/api/ddi/v1/targets', {
        controller_id: controllerId,
        device_type: `${name}-board`,
      });
      assert.equal(target.statusCode, 201, target.body);
      const gateway = `${name}-gateway-${suffix}-0123456789`;
      assert.equal((await call(token, 'PUT', '/api/ddi/v1/settings', { gateway_token: gateway })).statusCode, 200);
      // Kanto: a registered thing that connects with its tenant's credentials.
      const thingId = `flotilla.test:${name}-${suffix}`;
      const thing = await call(token, 'POST', '/api/kanto/v1/devices', {
        thing_id: thingId,
        device_type: `${name}-kanto`,
      });
      assert.equal(thing.statusCode, 201, thing.body);
      const registered = thing.json();
      const kanto = {
        thingId,
        deviceId: registered.device_id,
        username: registered.username,
        authId: registered.auth_id,
        password: registered.password,
      };
      await kantoDevice(tenant.id, thingId, kanto.username, kanto.password).connect();
      // An artifact for the Mender device and the DDI target, deployed to both.
      const upload = await t.app.inject({
        method: 'POST',
        url: `/api/ddi/v1/artifacts?filename=update.swu&version=${name}-release-${suffix}&device_type=${name}-board`,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' },
        payload: Buffer.from(`${name} payload`),
      });
      assert.equal(upload.statusCode, 201, upload.body);
      const artifact = upload.json() as { id: string; name: string };
      const deployment = await call(token, 'POST', DEPLOYMENTS, {
        name: `${name} rollout`,
        artifact_name: artifact.name,
        devices: [mender.deviceId, target.json().device_id],
      });
      assert.equal(deployment.statusCode, 201, deployment.body);
      const deploymentId = String(deployment.headers.location).split('/').pop() as string;
      // The Mender device takes it and fails, with a log.
      const next = await t.app.inject({
        method: 'GET',
        url: `${DEVICE_DEPLOYMENTS}/next?artifact_name=old&device_type=${name}-board`,
        headers: { authorization: `Bearer ${mender.token}` },
      });
      assert.equal(next.statusCode, 200, next.body);
      assert.equal(next.json().id, deploymentId);
      const logLine = `${name} log line ${suffix}`;
      const log = await t.app.inject({
        method: 'PUT',
        url: `${DEVICE_DEPLOYMENTS}/${deploymentId}/log`,
        headers: { authorization: `Bearer ${mender.token}` },
        payload: { messages: [{ timestamp: new Date().toISOString(), level: 'error', message: logLine }] },
      });
      assert.equal(log.statusCode, 204, log.body);
      const failed = await t.app.inject({
        method: 'PUT',
        url: `${DEVICE_DEPLOYMENTS}/${deploymentId}/status`,
        headers: { authorization: `Bearer ${mender.token}` },
        payload: { status: 'failure' },
      });
      assert.equal(failed.statusCode, 204, failed.body);
      const users = (await call(token, 'GET', '/api/management/v1/useradm/users')).json() as { id: string }[];
      return {
        tenant,
        token,
        email,
        userId: users[0].id,
        mender,
        ddi: { controllerId, deviceId: target.json().device_id, token: target.json().token, gateway },
        kanto,
        artifact,
        deploymentId,
        group,
        logLine,
      };
    }

    before(async () => {
      t = await testApp(dialect, { mqttPort: 0, kantoPushInterval: 0.1 });
      await t.app.ready();
      mqttUrl = (t.app.kanto.broker as { address(): string }).address();
      sides.push(await side('alpha'), await side('bravo'));
    });
    after(async () => {
      for (const thing of things) await thing.close();
      await t.close();
    });

    it("walks every management GET route with one tenant's token and the other's ids: nothing of the other shows", async () => {
      const templates = registeredRoutes(t.app)
        .filter((r) => r.method === 'GET' && /^\/api\/(management|ddi|kanto)\//.test(r.url))
        .map((r) => r.url);
      assert.ok(templates.length > 50, `${templates.length} routes`);
      for (const [own, other] of [
        [sides[0], sides[1]],
        [sides[1], sides[0]],
      ]) {
        const secrets = markers(own);
        const seenByOwner = new Set<string>();
        let requests = 0;
        for (const template of templates) {
          for (const url of fill(template, own)) {
            requests++;
            const foreign = await call(other.token, 'GET', url);
            // An answer may repeat what the caller sent (an id in an error message); anything else is a leak.
            const leaked = secrets.filter((s) => !url.includes(s) && foreign.body.includes(s));
            assert.deepEqual(leaked, [], `${url} as ${other.tenant.name}: ${foreign.statusCode} ${foreign.body}`);
            const mine = await call(own.token, 'GET', url);
            for (const s of secrets) if (!url.includes(s) && mine.body.includes(s)) seenByOwner.add(s);
          }
        }
        // The walk can fail: the same routes show the owner everything the other must not see.
        const unseen = secrets.filter((s) => !seenByOwner.has(s) && s !== own.tenant.tenant_token);
        assert.deepEqual(unseen, [], `${requests} requests`);
      }
    });

    it("refuses the other tenant's writes to this tenant's devices, artifacts and deployments", async () => {
      const [alpha, bravo] = sides;
      const writes: [string, string, unknown?][] = [
        ['DELETE', `${DEVAUTH}/devices/${alpha.mender.deviceId}`],
        [
          'PUT',
          `${DEVAUTH}/devices/${alpha.mender.deviceId}/auth/${alpha.mender.authSetId}/status`,
          { status: 'rejected' },
        ],
        ['DELETE', `/api/management/v1/deployments/artifacts/${alpha.artifact.id}`],
        ['PUT', `${DEPLOYMENTS}/${alpha.deploymentId}/status`, { status: 'aborted' }],
        ['DELETE', `/api/management/v1/inventory/devices/${alpha.mender.deviceId}/group/${alpha.group}`],
        ['DELETE', `/api/management/v1/useradm/users/${alpha.userId}`],
      ];
      for (const [method, url, payload] of writes) {
        const res = await call(bravo.token, method as 'PUT' | 'DELETE', url, payload);
        // Deleting a user is idempotent in Mender (204 for one that is not there); the rest answer 404 (or 400).
        const allowed = url.includes('/useradm/users/') ? [204, 404] : [400, 404];
        assert.ok(allowed.includes(res.statusCode), `${method} ${url}: ${res.statusCode} ${res.body}`);
      }
      // A deployment in bravo cannot name alpha's artifact or devices.
      const named = await call(bravo.token, 'POST', DEPLOYMENTS, {
        name: 'borrowed',
        artifact_name: alpha.artifact.name,
        devices: [bravo.mender.deviceId],
      });
      assert.ok(named.statusCode >= 400, named.body);
      const stolen = await call(bravo.token, 'POST', DEPLOYMENTS, {
        name: 'stolen',
        artifact_name: bravo.artifact.name,
        devices: [alpha.mender.deviceId, alpha.ddi.deviceId],
      });
      if (stolen.statusCode === 201) {
        const id = String(stolen.headers.location).split('/').pop();
        const devices = (await call(bravo.token, 'GET', `${DEPLOYMENTS}/${id}/devices`)).json() as { id: string }[];
        assert.deepEqual(devices, [], 'no device of alpha joined');
      }
      // Alpha's rows are untouched; its admin still logs in.
      assert.ok(await login(alpha.email));
      const device = await call(alpha.token, 'GET', `${DEVAUTH}/devices/${alpha.mender.deviceId}`);
      assert.equal(device.json().status, 'accepted');
      assert.equal(
        (await call(alpha.token, 'GET', `/api/management/v1/deployments/artifacts/${alpha.artifact.id}`)).statusCode,
        200,
      );
      assert.equal(
        (await call(alpha.token, 'GET', `${DEPLOYMENTS}/${alpha.deploymentId}`)).json().status,
        'inprogress',
        'not aborted',
      );
      assert.equal(
        (await call(alpha.token, 'GET', `/api/management/v1/inventory/devices/${alpha.mender.deviceId}/group`)).json()
          .group,
        alpha.group,
      );
    });

    it("refuses one tenant's device credentials at the other: tenant token, target and gateway tokens, MQTT", async () => {
      const [alpha, bravo] = sides;
      // Mender: an unknown tenant token is refused; alpha's device presenting bravo's token is a new, pending device
      // of bravo's, and its alpha twin is untouched.
      assert.equal((await alpha.mender.authenticate(t.app, 'no-such-tenant-token')).statusCode, 401);
      assert.equal((await alpha.mender.authenticate(t.app, bravo.tenant.tenant_token)).statusCode, 401);
      assert.equal((await alpha.mender.authenticate(t.app, alpha.tenant.tenant_token)).statusCode, 200);
      // DDI: a target token and a gateway token only open their own tenant's path.
      const poll = (tenant: string, controllerId: string, authorization: string) =>
        t.app.inject({
          method: 'GET',
          url: `/${tenant}/controller/v1/${controllerId}`,
          headers: { authorization, accept: 'application/json' },
        });
      const { controllerId, token, gateway } = alpha.ddi;
      assert.equal((await poll('ALPHA', controllerId, `TargetToken ${token}`)).statusCode, 200);
      assert.equal((await poll('alpha', controllerId, `TargetToken ${token}`)).statusCode, 200, 'any case');
      assert.equal((await poll(alpha.tenant.id, controllerId, `TargetToken ${token}`)).statusCode, 200, 'by id');
      assert.equal((await poll('BRAVO', controllerId, `TargetToken ${token}`)).statusCode, 401);
      assert.equal((await poll('BRAVO', bravo.ddi.controllerId, `TargetToken ${token}`)).statusCode, 401);
      assert.equal((await poll('BRAVO', controllerId, `GatewayToken ${gateway}`)).statusCode, 401);
      assert.equal((await poll('BRAVO', 'new-target', `GatewayToken ${gateway}`)).statusCode, 401);
      assert.equal((await poll('NOBODY', controllerId, `TargetToken ${token}`)).statusCode, 401);
      // Kanto: alpha's credentials under bravo's name (or id) are refused by the broker.
      const { thingId, authId, password } = alpha.kanto;
      const byName = kantoDevice(alpha.tenant.id, thingId, `${authId}@alpha`, password);
      await byName.connect();
      await byName.close();
      for (const tenant of ['BRAVO', 'bravo', bravo.tenant.id]) {
        const wrong = kantoDevice(bravo.tenant.id, thingId, `${authId}@${tenant}`, password);
        await assert.rejects(wrong.connect(), /Bad username or password|Connection refused/);
      }
      // A user token of one tenant is no key to the other's device API either: device routes want device tokens.
      const asUser = await t.app.inject({
        method: 'GET',
        url: `${DEVICE_DEPLOYMENTS}/next?artifact_name=x&device_type=alpha-board`,
        headers: { authorization: `Bearer ${bravo.token}` },
      });
      assert.equal(asUser.statusCode, 403);
    });

    it("never hands one tenant's deployment to the other's devices", async () => {
      const [alpha, bravo] = sides;
      // Bravo's Mender device asks as if it ran alpha's device type: nothing for it but its own deployment, once.
      const next = await t.app.inject({
        method: 'GET',
        url: `${DEVICE_DEPLOYMENTS}/next?artifact_name=old&device_type=alpha-board`,
        headers: { authorization: `Bearer ${bravo.mender.token}` },
      });
      assert.equal(next.statusCode, 204, next.body);
      const base = await t.app.inject({
        method: 'GET',
        url: `/BRAVO/controller/v1/${bravo.ddi.controllerId}`,
        headers: { authorization: `TargetToken ${bravo.ddi.token}`, accept: 'application/json' },
      });
      assert.equal(base.statusCode, 200);
      const offered = base.json()._links?.deploymentBase?.href as string | undefined;
      if (offered) {
        const action = await t.app.inject({
          method: 'GET',
          url: new URL(offered).pathname,
          headers: { authorization: `TargetToken ${bravo.ddi.token}`, accept: 'application/json' },
        });
        assert.ok(!action.body.includes(alpha.artifact.name), 'bravo target offered only bravo artifacts');
      }
      for (const device of [bravo.mender.deviceId, bravo.ddi.deviceId, bravo.kanto.deviceId]) {
        const history = await call(bravo.token, 'GET', `${DEPLOYMENTS}/devices/${device}`);
        assert.ok(!history.body.includes(alpha.deploymentId), history.body);
      }
      const kantoHistory = await call(bravo.token, 'GET', `${DEPLOYMENTS}/devices/${bravo.kanto.deviceId}`);
      assert.deepEqual(kantoHistory.json(), [], "bravo's Kanto thing was in no deployment");
    });

    it('refuses the 11th device of a tenant limited to 10 on every admission path', async () => {
      const created = await new TenantOperator(t.services).create({
        name: 'charlie',
        maxDevices: 10,
        adminEmail: 'admin@charlie.example',
        adminPassword: PASSWORD,
      });
      const tenant = created.tenant;
      const token = await login('admin@charlie.example');
      const accepted = async () =>
        (await call(token, 'GET', `${DEVAUTH}/devices/count?status=accepted`)).json().count as number;
      // Ten devices: eight Mender devices preauthorized by the operator, a pre-created DDI target, a Kanto thing.
      for (let i = 0; i < 8; i++) {
        const device = testDevice({ mac: `charlie-${i}` }, 'ed25519');
        const pre = await call(token, 'POST', `${DEVAUTH}/devices`, {
          identity_data: device.identity,
          pubkey: device.pubkey,
        });
        assert.equal(pre.statusCode, 201, pre.body);
        assert.equal((await device.authenticate(t.app, tenant.tenant_token)).statusCode, 200);
      }
      const target = await call(token, 'POST', '/api/ddi/v1/targets', { controller_id: 'charlie-9' });
      assert.equal(target.statusCode, 201, target.body);
      const thing = await call(token, 'POST', '/api/kanto/v1/devices', { thing_id: 'flotilla.test:charlie-10' });
      assert.equal(thing.statusCode, 201, thing.body);
      await kantoDevice(tenant.id, 'flotilla.test:charlie-10', thing.json().username, thing.json().password).connect();
      assert.equal(await accepted(), 10);

      // 11th, Mender: the operator's accept answers 422 with Mender's message; the device stays pending.
      const pending = testDevice({ mac: 'charlie-11' }, 'ed25519');
      assert.equal((await pending.authenticate(t.app, tenant.tenant_token)).statusCode, 401);
      const listed = (await call(token, 'GET', `${DEVAUTH}/devices?status=pending`)).json() as {
        id: string;
        auth_sets: { id: string }[];
      }[];
      const [waiting] = listed;
      const accept = await call(
        token,
        'PUT',
        `${DEVAUTH}/devices/${waiting.id}/auth/${waiting.auth_sets[0].id}/status`,
        {
          status: 'accepted',
        },
      );
      assert.equal(accept.statusCode, 422);
      assert.equal(accept.json().error, 'maximum number of accepted devices reached');
      // Preauthorized: its auth request is refused (401) and it stays preauthorized.
      const preauthorized = testDevice({ mac: 'charlie-12' }, 'ed25519');
      await call(token, 'POST', `${DEVAUTH}/devices`, {
        identity_data: preauthorized.identity,
        pubkey: preauthorized.pubkey,
      });
      assert.equal((await preauthorized.authenticate(t.app, tenant.tenant_token)).statusCode, 401);
      // DDI: a pre-created target is an acceptance (422, nothing written); an auto-accepted one stays pending and is
      // offered nothing.
      const devicesBefore = (await call(token, 'GET', `${DEVAUTH}/devices/count`)).json().count;
      const refused = await call(token, 'POST', '/api/ddi/v1/targets', { controller_id: 'charlie-13' });
      assert.equal(refused.statusCode, 422, refused.body);
      assert.equal((await call(token, 'GET', `${DEVAUTH}/devices/count`)).json().count, devicesBefore);
      assert.equal((await call(token, 'GET', '/api/ddi/v1/targets/charlie-13')).statusCode, 404);
      await call(token, 'PUT', '/api/ddi/v1/settings', {
        gateway_token: 'charlie-gateway-0123456789',
        auto_accept: true,
      });
      const auto = await t.app.inject({
        method: 'GET',
        url: '/CHARLIE/controller/v1/charlie-14',
        headers: { authorization: 'GatewayToken charlie-gateway-0123456789', accept: 'application/json' },
      });
      assert.equal(auto.statusCode, 200, auto.body);
      const autoTarget = (await call(token, 'GET', '/api/ddi/v1/targets/charlie-14')).json();
      assert.equal((await call(token, 'GET', `${DEVAUTH}/devices/${autoTarget.device_id}`)).json().status, 'pending');
      // Kanto: a registered thing over the limit is kept off the broker.
      const eleventh = await call(token, 'POST', '/api/kanto/v1/devices', { thing_id: 'flotilla.test:charlie-15' });
      assert.equal(eleventh.statusCode, 201);
      const outside = kantoDevice(
        tenant.id,
        'flotilla.test:charlie-15',
        eleventh.json().username,
        eleventh.json().password,
      );
      await assert.rejects(outside.connect(), /Not authorized|Connection refused/);
      assert.equal(await accepted(), 10);
      // Raising the limit lets the waiting device in.
      await new TenantOperator(t.services).setLimits('charlie', { maxDevices: 11 });
      assert.equal((await preauthorized.authenticate(t.app, tenant.tenant_token)).statusCode, 200);
      assert.equal(await accepted(), 11);
    });

    it('refuses an upload past the storage limit with nothing left behind; the other tenant is not limited', async () => {
      const [alpha, bravo] = sides;
      const usage = (await call(bravo.token, 'GET', '/api/management/v1/deployments/limits/storage')).json().usage;
      await new TenantOperator(t.services).setLimits('bravo', { storageLimit: usage + 1000 });
      const blobs = join(t.config.dataDir, 'blobs');
      const files = (dir: string): string[] =>
        readdirSync(dir, { recursive: true, withFileTypes: true })
          .filter((e) => e.isFile())
          .map((e) => join(e.parentPath, e.name));
      const before = files(blobs);
      const upload = (token: string, version: string) =>
        t.app.inject({
          method: 'POST',
          url: `/api/ddi/v1/artifacts?filename=big.swu&version=${version}&device_type=bravo-board`,
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' },
          payload: randomBytes(4000),
        });
      const refused = await upload(bravo.token, 'too-big');
      assert.equal(refused.statusCode, 400, refused.body);
      assert.equal(refused.json().error, 'artifact storage limit exceeded');
      assert.deepEqual(files(blobs), before, 'no blob, no temporary file');
      const artifacts = (await call(bravo.token, 'GET', '/api/management/v1/deployments/artifacts')).json();
      assert.ok(!JSON.stringify(artifacts).includes('too-big'), 'no row');
      assert.deepEqual(
        readdirSync(t.config.dataDir).filter(
          (name) => /upload|work|tmp/i.test(name) && readdirSync(join(t.config.dataDir, name)).length > 0,
        ),
        [],
        'no work folder left',
      );
      assert.equal((await upload(alpha.token, 'alpha-big')).statusCode, 201, 'alpha has no limit');
    });
  });
}
