// Audit logs through inject, on both dialects: every audited management change writes one entry with the right
// actor and object in its own transaction (a refused change writes none); the list's filters, sort and paging;
// the CSV export's columns, separator and ignore; another tenant's entries are never visible; the retention prune.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { adminToken, dialects, type TestApp, testApp } from '../../test/support/app.js';
import { addArtifact, createDeployment, managementCaller } from '../../test/support/deployment-fixtures.js';
import { addDevice, userToken } from '../../test/support/inventory-fixtures.js';
import { multipart } from '../../test/support/multipart.js';
import { writeModuleArtifact } from '../artifacts/writer.js';
import { Leases } from '../store/leases.js';
import { AuditPruner } from './pruner.js';
import type { AuditLogView } from './service.js';

const LOGS = '/api/management/v1/auditlogs/logs';

async function moduleArtifact(name: string): Promise<Buffer> {
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-audit-'));
  writeFileSync(join(dir, 'app.conf'), 'x=1\n');
  const stream = await writeModuleArtifact({
    name,
    deviceTypes: ['qemu'],
    type: 'single-file',
    files: [{ name: 'app.conf', path: join(dir, 'app.conf') }],
  });
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

for (const dialect of dialects) {
  describe(`audit logs (${dialect})`, () => {
    let t: TestApp;
    let token: string;
    let adminId: string;
    before(async () => {
      t = await testApp(dialect);
      token = await adminToken(t);
      adminId = (await t.services.users.list(t.tenant.id, {})).find((u) => u.email === 'admin@example.com')
        ?.id as string;
    });
    after(() => t.close());

    const mgmt = managementCaller(
      () => t,
      () => token,
    );
    /** The entries about one object, newest first, asserted to be there. */
    const entriesOf = async (objectId: string): Promise<AuditLogView[]> => {
      const res = await mgmt('GET', `${LOGS}?object_id=${encodeURIComponent(objectId)}`);
      assert.equal(res.statusCode, 200, res.body);
      return res.json() as AuditLogView[];
    };
    const assertByAdmin = (entry: AuditLogView | undefined) => {
      assert.ok(entry, 'no audit entry');
      assert.deepEqual(entry.actor, { id: adminId, type: 'user', email: 'admin@example.com' });
      assert.ok(Date.now() - Date.parse(entry.time) < 3600_000);
    };

    test('user created, updated and removed', async () => {
      const created = await mgmt('POST', '/api/management/v1/useradm/users', {
        email: 'audited@example.com',
        password: 'correct-horse-battery',
      });
      assert.equal(created.statusCode, 201, created.body);
      const id = String(created.headers.location).split('/').pop() as string;
      assert.equal(
        (await mgmt('PUT', `/api/management/v1/useradm/users/${id}`, { email: 'renamed@example.com' })).statusCode,
        204,
      );
      assert.equal((await mgmt('DELETE', `/api/management/v1/useradm/users/${id}`)).statusCode, 204);
      const [removed, updated, create] = await entriesOf(id);
      assertByAdmin(create);
      assert.equal(create.action, 'create');
      assert.deepEqual(create.object, { type: 'user', id, user: { email: 'audited@example.com' } });
      assert.equal(updated.action, 'update');
      assert.equal(updated.change, 'changed: email');
      assert.equal(removed.action, 'delete');
      assert.deepEqual(removed.object, { type: 'user', id, user: { email: 'renamed@example.com' } });
      // Removing a user that is gone changes nothing and records nothing.
      assert.equal((await mgmt('DELETE', `/api/management/v1/useradm/users/${id}`)).statusCode, 204);
      assert.equal((await entriesOf(id)).length, 3);
    });

    test('personal access token created and revoked', async () => {
      const res = await mgmt('POST', '/api/management/v1/useradm/settings/tokens', { name: 'ci', expires_in: 3600 });
      assert.equal(res.statusCode, 200, res.body);
      const listed = (await mgmt('GET', '/api/management/v1/useradm/settings/tokens')).json() as { id: string }[];
      const id = listed[0].id;
      assert.equal((await mgmt('DELETE', `/api/management/v1/useradm/settings/tokens/${id}`)).statusCode, 204);
      const [revoked, created] = await entriesOf(id);
      assertByAdmin(created);
      assert.equal(created.action, 'create');
      assert.deepEqual(created.object, { type: 'personal_access_token', id });
      assert.match(created.change ?? '', /"ci"/);
      assert.equal(revoked.action, 'revoke');
      assertByAdmin(revoked);
    });

    test('device accepted, rejected and decommissioned', async () => {
      const device = await addDevice(t, { status: 'pending', identity: { mac: 'aa:bb:cc:00:00:01' } });
      const view = (await mgmt('GET', `/api/management/v2/devauth/devices/${device.id}`)).json() as {
        auth_sets: { id: string }[];
      };
      const set = `/api/management/v2/devauth/devices/${device.id}/auth/${view.auth_sets[0].id}/status`;
      assert.equal((await mgmt('PUT', set, { status: 'accepted' })).statusCode, 204);
      assert.equal((await mgmt('PUT', set, { status: 'rejected' })).statusCode, 204);
      assert.equal((await mgmt('DELETE', `/api/management/v2/devauth/devices/${device.id}`)).statusCode, 204);
      const [decommissioned, rejected, accepted] = await entriesOf(device.id);
      assertByAdmin(accepted);
      assert.equal(accepted.action, 'accept');
      assert.deepEqual(accepted.object, {
        type: 'device',
        id: device.id,
        device: { id: device.id, identity_data: '{"mac":"aa:bb:cc:00:00:01"}' },
      });
      assert.equal(rejected.action, 'reject');
      assert.match(rejected.change ?? '', /accepted -> rejected/);
      assert.equal(decommissioned.action, 'decommission');
      // Decommissioning a device that is gone is a 404 and writes nothing.
      assert.equal((await mgmt('DELETE', `/api/management/v2/devauth/devices/${device.id}`)).statusCode, 404);
      assert.equal((await entriesOf(device.id)).length, 3);
    });

    test('device preauthorized, an auth set deleted; a deployment resumed', async () => {
      const pubkey = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' });
      const created = await mgmt('POST', '/api/management/v2/devauth/devices', {
        identity_data: { mac: 'aa:bb:cc:00:00:09' },
        pubkey,
      });
      assert.equal(created.statusCode, 201, created.body);
      const deviceId = String(created.headers.location).split('/').pop() as string;
      const view = (await mgmt('GET', `/api/management/v2/devauth/devices/${deviceId}`)).json() as {
        auth_sets: { id: string }[];
      };
      const authSet = view.auth_sets[0].id;
      const removed = await mgmt('DELETE', `/api/management/v2/devauth/devices/${deviceId}/auth/${authSet}`);
      assert.equal(removed.statusCode, 204, removed.body);
      const [deleted, preauthorized] = await entriesOf(deviceId);
      assertByAdmin(preauthorized);
      assert.equal(preauthorized.action, 'create');
      assert.equal(preauthorized.change, 'preauthorized');
      assertByAdmin(deleted);
      assert.equal(deleted.action, 'delete');
      assert.match(deleted.change ?? '', new RegExp(`auth set ${authSet} \\(preauthorized\\) deleted`));

      await addArtifact(t, { name: 'audit-resume' });
      const device = await addDevice(t);
      const id = await createDeployment(t, token, {
        name: 'resumed',
        artifact_name: 'audit-resume',
        devices: [device.id],
      });
      // Paused as a failure threshold pauses it (src/deployments/settle.ts), then resumed by the operator.
      await t.services.store.db.updateTable('deployments').set({ paused: 1 }).where('id', '=', id).execute();
      const status = `/api/management/v1/deployments/deployments/${id}/status`;
      assert.equal((await mgmt('PUT', status, { status: 'inprogress' })).statusCode, 204);
      const [resumed] = await entriesOf(id);
      assertByAdmin(resumed);
      assert.deepEqual([resumed.action, resumed.change], ['update', 'resumed']);
    });

    test('artifact description edited, a device token revoked, tenant, own and DDI settings changed', async () => {
      const artifact = await addArtifact(t, { name: 'audit-described' });
      const edited = await mgmt('PUT', `/api/management/v1/deployments/artifacts/${artifact.id}`, {
        description: 'for the lab',
      });
      assert.equal(edited.statusCode, 204, edited.body);
      const [described] = await entriesOf(artifact.id);
      assertByAdmin(described);
      assert.deepEqual([described.action, described.change], ['update', '{"description":"for the lab"}']);

      const device = await addDevice(t);
      const jti = JSON.parse(Buffer.from(device.token.split('.')[1], 'base64url').toString()).jti as string;
      assert.equal((await mgmt('DELETE', `/api/management/v2/devauth/tokens/${jti}`)).statusCode, 204);
      assert.equal((await mgmt('DELETE', `/api/management/v2/devauth/tokens/${jti}`)).statusCode, 404);
      const [revoked, ...none] = await entriesOf(device.id);
      assertByAdmin(revoked);
      assert.deepEqual([revoked.action, revoked.change, none.length], ['revoke', `token ${jti}`, 0]);

      assert.equal((await mgmt('POST', '/api/management/v1/useradm/settings', { theme: 'dark' })).statusCode, 201);
      assert.equal((await mgmt('POST', '/api/management/v1/useradm/settings/me', { columns: ['id'] })).statusCode, 201);
      const ddi = await mgmt('PUT', '/api/ddi/v1/settings', {
        gateway_token: 'a-secret-gateway-token',
        polling_sleep: 60,
      });
      assert.equal(ddi.statusCode, 200, ddi.body);
      const [ddiChange, tenantSettings] = await entriesOf(t.tenant.id);
      assertByAdmin(tenantSettings);
      assert.deepEqual([tenantSettings.action, tenantSettings.change], ['update', 'settings']);
      assert.deepEqual(JSON.parse(ddiChange.change ?? ''), {
        ddi_settings: { polling_sleep: 60, gateway_token: '***' },
      });
      assert.doesNotMatch(ddiChange.change ?? '', /a-secret-gateway-token/);
      const [own] = await entriesOf(adminId);
      assert.deepEqual([own.action, own.object.type, own.change], ['update', 'user', 'settings']);
    });

    test("a device's deployments aborted and its history deleted", async () => {
      await addArtifact(t, { name: 'audit-device-abort' });
      const device = await addDevice(t);
      await createDeployment(t, token, {
        name: 'per device',
        artifact_name: 'audit-device-abort',
        devices: [device.id],
      });
      const base = `/api/management/v1/deployments/deployments/devices/${device.id}`;
      assert.equal((await mgmt('DELETE', base)).statusCode, 204);
      assert.equal((await mgmt('DELETE', `${base}/history`)).statusCode, 204);
      const [history, aborted] = await entriesOf(device.id);
      assertByAdmin(aborted);
      assert.deepEqual([aborted.action, aborted.object], ['abort', { type: 'device', id: device.id }]);
      assert.deepEqual([history.action, history.change], ['delete', 'deployment history']);
    });

    test('artifact uploaded and deleted', async () => {
      const body = multipart({}, { field: 'artifact', filename: 'a.mender', content: await moduleArtifact('audit-1') });
      const res = await t.app.inject({
        method: 'POST',
        url: '/api/management/v1/deployments/artifacts',
        payload: body.payload,
        headers: { authorization: `Bearer ${token}`, ...body.headers },
      });
      assert.equal(res.statusCode, 201, res.body);
      const id = String(res.headers.location).split('/').pop() as string;
      assert.equal((await mgmt('DELETE', `/api/management/v1/deployments/artifacts/${id}`)).statusCode, 204);
      const [deleted, uploaded] = await entriesOf(id);
      assertByAdmin(uploaded);
      assert.equal(uploaded.action, 'upload');
      assert.deepEqual(uploaded.object, { type: 'artifact', id, artifact: { name: 'audit-1' } });
      assert.equal(deleted.action, 'delete');
    });

    test('release notes and tags edited; an unknown release writes nothing', async () => {
      await addArtifact(t, { name: 'audit-notes' });
      const url = '/api/management/v2/deployments/deployments/releases/audit-notes';
      assert.equal((await mgmt('PATCH', url, { notes: 'first cut' })).statusCode, 204);
      const tagged = await t.app.inject({
        method: 'PUT',
        url: `${url}/tags`,
        headers: { authorization: `Bearer ${token}` },
        payload: ['Stable'],
      });
      assert.equal(tagged.statusCode, 204, tagged.body);
      const unknown = '/api/management/v2/deployments/deployments/releases/nope';
      assert.equal((await mgmt('PATCH', unknown, { notes: 'x' })).statusCode, 404);
      const [tags, notes] = await entriesOf('audit-notes');
      assertByAdmin(notes);
      assert.deepEqual(notes.object, { type: 'release', id: 'audit-notes' });
      assert.equal(notes.change, '{"notes":"first cut"}');
      assert.equal(tags.change, '{"tags":["stable"]}');
      assert.deepEqual(await entriesOf('nope'), []);
    });

    test('deployment created, control map changed, aborted; a refused abort writes nothing', async () => {
      await addArtifact(t, { name: 'audit-release' });
      const device = await addDevice(t);
      const map = { priority: 1, states: { ArtifactInstall_Enter: { action: 'pause' } } };
      const id = await createDeployment(t, token, {
        name: 'audited rollout',
        artifact_name: 'audit-release',
        devices: [device.id],
        update_control_map: map,
      });
      const patched = await mgmt('PATCH', `/api/management/v1/deployments/deployments/${id}`, {
        update_control_map: { priority: 2, states: {} },
      });
      assert.equal(patched.statusCode, 204, patched.body);
      const status = `/api/management/v1/deployments/deployments/${id}/status`;
      assert.equal((await mgmt('PUT', status, { status: 'aborted' })).statusCode, 204);
      assert.equal((await mgmt('PUT', status, { status: 'aborted' })).statusCode, 422);
      const entries = await entriesOf(id);
      assert.deepEqual(
        entries.map((e) => e.action),
        ['abort', 'update', 'create'],
      );
      const object = {
        type: 'deployment',
        id,
        deployment: { name: 'audited rollout', artifact_name: 'audit-release' },
      };
      for (const entry of entries) {
        assertByAdmin(entry);
        assert.deepEqual(entry.object, object);
      }
      assert.match(entries[1].change ?? '', /"priority":2/);
      const byName = await mgmt('GET', `${LOGS}?object_deployment_name=${encodeURIComponent('audited rollout')}`);
      assert.equal((byName.json() as unknown[]).length, 3);
    });

    test('configuration set and deployed', async () => {
      const device = await addDevice(t);
      const url = `/api/management/v1/deviceconfig/configurations/device/${device.id}`;
      assert.equal((await mgmt('PUT', url, { timezone: 'UTC' })).statusCode, 204);
      const deployed = await mgmt('POST', `${url}/deploy`, { retries: 0 });
      assert.equal(deployed.statusCode, 200, deployed.body);
      const { deployment_id } = deployed.json() as { deployment_id: string };
      const [deploy, set] = await entriesOf(device.id);
      assertByAdmin(set);
      assert.equal(set.action, 'set_configuration');
      assert.deepEqual(set.object, { type: 'device', id: device.id });
      assert.equal(set.change, '{"timezone":"UTC"}');
      assert.equal(deploy.action, 'deploy_configuration');
      assert.deepEqual(deploy.meta, { deployment_id: [deployment_id] });
    });

    test('device connect settings changed; terminal and file transfer sessions', async () => {
      const settings = { terminal: true, file_transfer: false, port_forward: true };
      assert.equal((await mgmt('PUT', '/api/management/v1/deviceconnect/settings', settings)).statusCode, 204);
      const [changed] = await entriesOf(t.tenant.id);
      assertByAdmin(changed);
      assert.equal(changed.action, 'update');
      assert.deepEqual(changed.object, { type: 'tenant', id: t.tenant.id });
      assert.deepEqual(JSON.parse(changed.change ?? ''), { deviceconnect_settings: settings });

      // The operator session (src/deviceconnect/operator-session.ts) records its events through ConnectService;
      // each writes the audit entry beside its deviceconnect_events row.
      const device = await addDevice(t);
      const event = { tenantId: t.tenant.id, actorId: adminId, deviceId: device.id, sessionId: 'session-1' };
      await t.services.connect.record({ ...event, action: 'open_terminal' });
      await t.services.connect.record({ ...event, action: 'upload_file', detail: { path: '/etc/app.conf' } });
      await t.services.connect.record({ ...event, action: 'close_terminal' });
      const entries = await entriesOf(device.id);
      assert.deepEqual(
        entries.map((e) => e.action),
        ['close_terminal', 'upload_file', 'open_terminal'],
      );
      for (const entry of entries) {
        assertByAdmin(entry);
        assert.deepEqual(entry.meta, { session_id: ['session-1'] });
      }
      assert.equal(entries[1].change, '{"path":"/etc/app.conf"}');
    });

    test('filters, sort and paging; bad queries are 400 in Mender’s shape', async () => {
      const all = await mgmt('GET', `${LOGS}?per_page=500`);
      const total = Number(all.headers['x-total-count']);
      const logs = all.json() as AuditLogView[];
      assert.equal(logs.length, total);
      assert.ok(total >= 10);
      const times = logs.map((l) => l.time);
      assert.deepEqual(times, [...times].sort().reverse());
      const asc = (await mgmt('GET', `${LOGS}?sort=asc&per_page=500`)).json() as AuditLogView[];
      assert.deepEqual(
        asc.map((l) => l.time),
        [...times].reverse(),
      );
      const page2 = await mgmt('GET', `${LOGS}?page=2&per_page=3`);
      assert.deepEqual(page2.json(), logs.slice(3, 6));
      assert.match(String(page2.headers.link), /rel="next"/);
      const artifacts = (await mgmt('GET', `${LOGS}?object_type=artifact`)).json() as AuditLogView[];
      assert.ok(artifacts.length >= 2 && artifacts.every((l) => l.object.type === 'artifact'));
      const byEmail = await mgmt('GET', `${LOGS}?actor_email=admin@example.com&actor_type=user`);
      assert.equal(byEmail.headers['x-total-count'], String(total));
      assert.equal((await mgmt('GET', `${LOGS}?actor_id=${adminId}`)).headers['x-total-count'], String(total));
      assert.deepEqual((await mgmt('GET', `${LOGS}?actor_email=nobody@example.com`)).json(), []);
      const first = Math.floor(Date.parse(asc[0].time) / 1000);
      const inRange = await mgmt('GET', `${LOGS}?created_after=${first}&created_before=${first + 3600}`);
      assert.equal(inRange.headers['x-total-count'], String(total));
      assert.deepEqual((await mgmt('GET', `${LOGS}?created_before=${first - 1}`)).json(), []);
      for (const bad of ['page=0', 'per_page=501', 'sort=up', 'actor_type=robot', 'object_type=x', 'created_after=x']) {
        const res = await mgmt('GET', `${LOGS}?${bad}`);
        assert.equal(res.statusCode, 400, bad);
        assert.equal(typeof (res.json() as { error: string }).error, 'string');
      }
      assert.equal((await t.app.inject({ method: 'GET', url: LOGS })).statusCode, 401);
      // Append-only through the API: no route changes or removes an entry.
      for (const method of ['POST', 'PUT', 'PATCH', 'DELETE'] as const) {
        assert.equal((await mgmt(method, LOGS, {})).statusCode, 404, method);
        assert.equal((await mgmt(method, `${LOGS}/${logs[0].object.id}`, {})).statusCode, 404, method);
      }
      assert.equal(Number((await mgmt('GET', LOGS)).headers['x-total-count']), total);
    });

    test('export: CSV with the chosen columns, separator and ignore', async () => {
      const res = await mgmt(
        'GET',
        `${LOGS}/export?object_type=deployment&object_deployment_name=audited%20rollout&sort=asc&format_separator=_&ignore=actor.id,meta`,
      );
      assert.equal(res.statusCode, 200, res.body);
      assert.match(String(res.headers['content-type']), /^text\/csv/);
      const [header, ...rows] = res.body.trimEnd().split('\r\n');
      assert.equal(
        header,
        'time,action,actor_type,actor_email,object_id,object_type,object_user_email,object_deployment_name,' +
          'object_deployment_artifact_name,object_artifact_name,object_device_id,object_device_identity_data,change',
      );
      assert.equal(rows.length, 3);
      assert.match(rows[0], /,create,user,admin@example.com,[0-9a-f-]{36},deployment,,audited rollout,audit-release,/);
      // The change is JSON: quoted, its quotes doubled (RFC 4180).
      assert.match(rows[1], /,update,.*,"{""update_control_map"":{.*""priority"":2.*}}"$/);
      const limited = await mgmt('GET', `${LOGS}/export?limit=2`);
      assert.equal(limited.body.trimEnd().split('\r\n').length, 3);
      // A cell a spreadsheet would run as a formula is written as text.
      await addArtifact(t, { name: '=1+2' });
      const hostile = `/api/management/v2/deployments/deployments/releases/${encodeURIComponent('=1+2')}`;
      assert.equal((await mgmt('PATCH', hostile, { notes: 'x' })).statusCode, 204);
      const exported = await mgmt('GET', `${LOGS}/export?object_type=release&object_id=${encodeURIComponent('=1+2')}`);
      assert.match(exported.body.split('\r\n')[1], /,'=1\+2,release,/);
      assert.equal((await mgmt('GET', `${LOGS}/export?ignore=nope`)).statusCode, 400);
      assert.equal((await mgmt('GET', `${LOGS}/export?limit=0`)).statusCode, 400);
    });

    test("another tenant's entries are never visible, and its own are", async () => {
      const other = await t.services.tenants.create('other', 'other');
      const otherToken = await userToken(t, other.id);
      const call = (url: string) =>
        t.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${otherToken}` } });
      // userToken created a user without an actor: nothing recorded for it; the other tenant's list is empty.
      assert.deepEqual((await call(LOGS)).json(), []);
      assert.equal((await call(`${LOGS}/export`)).body.trimEnd().split('\r\n').length, 1);
      const res = await t.app.inject({
        method: 'PUT',
        url: '/api/management/v1/deviceconnect/settings',
        headers: { authorization: `Bearer ${otherToken}` },
        payload: { terminal: false, file_transfer: false, port_forward: false },
      });
      assert.equal(res.statusCode, 204);
      const own = (await call(LOGS)).json() as AuditLogView[];
      assert.deepEqual(
        own.map((l) => l.object.id),
        [other.id],
      );
      // And the default tenant does not see it, even asking for its id.
      assert.deepEqual((await mgmt('GET', `${LOGS}?object_id=${other.id}`)).json(), []);
      const ours = (await mgmt('GET', `${LOGS}/export`)).body;
      assert.ok(!ours.includes(other.id));
    });

    test('the entry and its change commit together: when the entry cannot be written, the change is undone', async () => {
      const db = t.services.store.db;
      await sql`alter table audit_logs rename to audit_logs_away`.execute(db);
      try {
        const res = await mgmt('POST', '/api/management/v1/useradm/users', {
          email: 'not-audited@example.com',
          password: 'correct-horse-battery',
        });
        assert.equal(res.statusCode, 500, res.body);
      } finally {
        await sql`alter table audit_logs_away rename to audit_logs`.execute(db);
      }
      const users = await t.services.users.list(t.tenant.id, {});
      assert.ok(!users.some((u) => u.email === 'not-audited@example.com'), 'the user was not created');
    });

    test('entries older than the retention period are pruned, by the process holding the lease', async () => {
      const before = Number((await mgmt('GET', LOGS)).headers['x-total-count']);
      await t.services.store.db
        .insertInto('audit_logs')
        .values({
          tenant_id: t.tenant.id,
          id: 'ancient',
          time: '2000-01-01T00:00:00.000Z',
          actor_type: 'user',
          actor_id: adminId,
          actor_email: null,
          actor_token_id: null,
          action: 'create',
          object_type: 'user',
          object_id: 'ancient',
          object_deployment_name: null,
          object_json: null,
          change: null,
          meta_json: null,
        })
        .execute();
      assert.equal(Number((await mgmt('GET', LOGS)).headers['x-total-count']), before + 1);
      // The hourly prune runs in one process of several: whoever holds the lease.
      const log = { error: () => undefined };
      const first = new AuditPruner(t.services.audit, new Leases(t.services.store, 'process-a'), log);
      const second = new AuditPruner(t.services.audit, new Leases(t.services.store, 'process-b'), log);
      assert.equal(await first.pruneOnce(), 1);
      assert.equal(await second.pruneOnce(), undefined);
      await first.stop();
      assert.equal(await second.pruneOnce(), 0);
      await second.stop();
      assert.equal(Number((await mgmt('GET', LOGS)).headers['x-total-count']), before);
    });
  });
}
