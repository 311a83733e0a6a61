// Mender devicemonitor through inject, on both dialects: alerts a device posts appear in the management lists
// (paging, time filters, order) and, while a check is open, in the inventory filter Mender's GUI uses
// (monitor/alerts $eq true); an OK alert closes the check; bad bodies are 400 with nothing stored; the device's
// checks; the fleet-wide list of alerting devices.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { adminToken, dialects, type TestApp, testApp } from '../../../test/support/app.js';
import { managementCaller } from '../../../test/support/deployment-fixtures.js';
import { addDevice, type TestDevice } from '../../../test/support/inventory-fixtures.js';

const MGMT = '/api/management/v1/devicemonitor';
const DEVICE = '/api/devices/v1/devicemonitor';

/** An alert as the seed's example has it. */
function alert(level: 'OK' | 'CRITICAL', timestamp: string, subject = 'mender-connect', name = 'systemd service') {
  return {
    name,
    level,
    timestamp,
    subject: {
      name: subject,
      status: level === 'OK' ? 'running' : 'not-running',
      type: 'systemd.unit',
      details: {
        description: 'Description of an error.',
        lines_before: [{ line_number: 1, data: 'Line 1 from a log file' }],
        line_matching: { line_number: 3, data: 'Line 3 from a log file' },
        lines_after: [{ line_number: 4, data: 'Line 4 from a log file' }],
      },
    },
  };
}

for (const dialect of dialects) {
  describe(`devicemonitor (${dialect})`, () => {
    let t: TestApp;
    let token: string;
    before(async () => {
      t = await testApp(dialect);
      token = await adminToken(t);
    });
    after(() => t.close());

    const mgmt = managementCaller(
      () => t,
      () => token,
    );
    const post = (device: TestDevice, path: 'alert' | 'config', payload: unknown) =>
      t.app.inject({
        method: 'POST',
        url: `${DEVICE}/${path}`,
        headers: { authorization: `Bearer ${device.token}`, 'content-type': 'application/json' },
        payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
      });
    const withOpenAlerts = async (value = true): Promise<string[]> => {
      const res = await mgmt('POST', '/api/management/v2/inventory/filters/search', {
        filters: [{ scope: 'monitor', attribute: 'alerts', type: '$eq', value }],
      });
      assert.equal(res.statusCode, 200, res.body);
      return (res.json() as { id: string }[]).map((d) => d.id);
    };

    test('posted alerts are listed newest first, paged and filtered; an OK closes the check', async () => {
      const device = await addDevice(t);
      const res = await post(device, 'alert', [
        alert('CRITICAL', '2026-01-01T10:00:00Z'),
        alert('CRITICAL', '2026-01-01T10:05:00+01:00', 'nginx'),
      ]);
      assert.equal(res.statusCode, 204, res.body);
      assert.ok((await withOpenAlerts()).includes(device.id), 'in the GUI filter "Monitoring alert"');

      const listed = await mgmt('GET', `${MGMT}/devices/${device.id}/alerts`);
      assert.equal(listed.statusCode, 200);
      assert.equal(listed.headers['x-total-count'], '2');
      const alerts = listed.json();
      assert.deepEqual(
        alerts.map((a: { subject: { name: string } }) => a.subject.name),
        ['mender-connect', 'nginx'],
        'newest first (10:05+01:00 is 09:05Z)',
      );
      assert.deepEqual(alerts[0], { ...alert('CRITICAL', '2026-01-01T10:00:00.000Z') });
      assert.equal(alerts[1].timestamp, '2026-01-01T09:05:00.000Z');
      const ascending = await mgmt('GET', `${MGMT}/devices/${device.id}/alerts?sort_ascending=true&per_page=1`);
      assert.equal(ascending.json()[0].subject.name, 'nginx');
      assert.equal(ascending.headers['x-total-count'], '2');
      assert.match(String(ascending.headers.link), /rel="next"/);
      const after = await mgmt('GET', `${MGMT}/devices/${device.id}/alerts?issued_after=2026-01-01T09:30:00Z`);
      assert.deepEqual(
        after.json().map((a: { subject: { name: string } }) => a.subject.name),
        ['mender-connect'],
      );

      assert.equal((await post(device, 'alert', [alert('OK', '2026-01-01T11:00:00Z')])).statusCode, 204);
      const latest = await mgmt('GET', `${MGMT}/devices/${device.id}/alerts/latest`);
      assert.deepEqual(
        latest.json().map((a: { level: string; subject: { name: string } }) => `${a.subject.name}:${a.level}`),
        ['nginx:CRITICAL', 'mender-connect:OK'],
        'the latest alert of each check, oldest first',
      );
      const open = await mgmt('GET', `${MGMT}/devices/${device.id}/alerts/latest?level_from=CRITICAL`);
      assert.deepEqual(
        open.json().map((a: { subject: { name: string } }) => a.subject.name),
        ['nginx'],
      );
      assert.ok((await withOpenAlerts()).includes(device.id), 'nginx is still open');
      // An older alert arriving late does not reopen a check closed by a newer one.
      await post(device, 'alert', [
        alert('OK', '2026-01-01T12:00:00Z', 'nginx'),
        alert('CRITICAL', '2026-01-01T09:59:00Z', 'nginx'),
      ]);
      assert.ok(!(await withOpenAlerts()).includes(device.id), 'no open check: out of the filter');
      assert.ok((await withOpenAlerts(false)).includes(device.id), '$eq false finds it');
      assert.equal((await mgmt('GET', `${MGMT}/devices/${device.id}/alerts`)).headers['x-total-count'], '5');
    });

    test('bad alert bodies are 400 with nothing stored', async () => {
      const device = await addDevice(t);
      const good = alert('CRITICAL', '2026-02-01T10:00:00Z');
      const bad: unknown[] = [
        '{"name":',
        good,
        [],
        [{ ...good, level: 'WARNING' }],
        [{ ...good, level: undefined }],
        [{ ...good, name: '' }],
        [{ ...good, name: 7 }],
        [{ ...good, timestamp: 'yesterday' }],
        [{ ...good, timestamp: '2026-02-01 10:00' }],
        [{ ...good, subject: undefined }],
        [{ ...good, subject: { ...good.subject, type: undefined } }],
        [{ ...good, subject: { ...good.subject, status: 1 } }],
        [{ ...good, subject: { ...good.subject, details: 'broken' } }],
        [{ ...good, subject: { ...good.subject, details: { lines_before: {} } } }],
        [{ ...good, subject: { ...good.subject, details: { line_matching: { line_number: '3', data: 'x' } } } }],
        [{ ...good, subject: { ...good.subject, details: { lines_after: [{ line_number: 1 }] } } }],
        [{ ...good, subject: { ...good.subject, name: 'x'.repeat(4097) } }],
        [good, { ...good, level: 'critical' }],
        Array.from({ length: 101 }, () => good),
        ['not an alert'],
      ];
      for (const body of bad) {
        const res = await post(device, 'alert', body);
        assert.equal(res.statusCode, 400, `${JSON.stringify(body).slice(0, 80)}: ${res.body}`);
        assert.ok(res.json().error && res.json().request_id, "Mender's error shape");
      }
      const stored = await t.services.store.db
        .selectFrom('monitor_alerts')
        .select('id')
        .where('device_id', '=', device.id)
        .execute();
      assert.equal(stored.length, 0);
      const checks = await t.services.store.db
        .selectFrom('monitor_checks')
        .select('name')
        .where('device_id', '=', device.id)
        .execute();
      assert.equal(checks.length, 0);
      const attribute = await t.services.store.db
        .selectFrom('attributes')
        .select('name')
        .where('device_id', '=', device.id)
        .where('scope', '=', 'monitor')
        .execute();
      assert.equal(attribute.length, 0);
      assert.equal((await mgmt('GET', `${MGMT}/devices/${device.id}/alerts`)).json().length, 0);
      // Wrong query values are 400 too.
      for (const query of ['page=0', 'per_page=501', 'sort_ascending=maybe', 'issued_before=noon']) {
        assert.equal((await mgmt('GET', `${MGMT}/devices/${device.id}/alerts?${query}`)).statusCode, 400, query);
      }
      assert.equal((await mgmt('GET', `${MGMT}/devices/${device.id}/alerts/latest?level_from=WARN`)).statusCode, 400);
    });

    test("the device's checks: stored, replaced, validated", async () => {
      const device = await addDevice(t);
      assert.deepEqual((await mgmt('GET', `${MGMT}/devices/${device.id}/config`)).json(), []);
      const checks = [
        { name: 'nginx', status: 'enabled', type: 'service', service: { name: 'nginx', type: 'systemd' } },
        { name: 'auth', status: 'enabled', type: 'log', log: { pattern: 'fail', path: '/var/log/auth.log' } },
      ];
      assert.equal((await post(device, 'config', checks)).statusCode, 204);
      assert.deepEqual((await mgmt('GET', `${MGMT}/devices/${device.id}/config`)).json(), checks);
      for (const body of [{}, [{ name: 'x', status: 'y' }], [{ name: 'x', status: 'y', type: 'log', log: 'z' }]]) {
        assert.equal((await post(device, 'config', body)).statusCode, 400, JSON.stringify(body));
      }
      assert.deepEqual((await mgmt('GET', `${MGMT}/devices/${device.id}/config`)).json(), checks, 'unchanged');
      assert.equal((await post(device, 'config', [])).statusCode, 204);
      assert.deepEqual((await mgmt('GET', `${MGMT}/devices/${device.id}/config`)).json(), []);
    });

    test('the fleet: alerting devices with counts and latest alerts; unknown devices; tokens; decommission', async () => {
      const fresh = await testApp(dialect);
      try {
        const freshToken = await adminToken(fresh);
        const call = managementCaller(
          () => fresh,
          () => freshToken,
        );
        const [a, b, quiet] = [await addDevice(fresh), await addDevice(fresh), await addDevice(fresh)];
        const send = (d: TestDevice, body: unknown) =>
          fresh.app.inject({
            method: 'POST',
            url: `${DEVICE}/alert`,
            headers: { authorization: `Bearer ${d.token}` },
            payload: body as object,
          });
        await send(a, [alert('CRITICAL', '2026-03-01T10:00:00Z'), alert('OK', '2026-03-01T10:01:00Z', 'disk')]);
        await send(b, [alert('CRITICAL', '2026-03-01T09:00:00Z'), alert('OK', '2026-03-01T11:00:00Z')]);
        const all = await call('GET', `${MGMT}/devices`);
        assert.equal(all.statusCode, 200, all.body);
        assert.equal(all.headers['x-total-count'], '2', 'only devices that sent alerts');
        assert.deepEqual(
          all
            .json()
            .map((d: { id: string; alerts_open_count: number; alerts_total_count: number }) => [
              d.id,
              d.alerts_open_count,
              d.alerts_total_count,
            ]),
          [
            [b.id, 0, 2],
            [a.id, 1, 2],
          ],
          'the most recently alerting device first',
        );
        assert.equal(all.json()[1].alerts.length, 2);
        const open = (await call('GET', `${MGMT}/devices?level_from=CRITICAL`)).json();
        assert.deepEqual(
          open.map((d: { id: string }) => d.id),
          [a.id],
        );
        assert.deepEqual(
          open[0].alerts.map((x: { level: string }) => x.level),
          ['CRITICAL'],
        );
        const one = await call('GET', `${MGMT}/devices?id=${b.id}&id=${quiet.id}`);
        assert.deepEqual(
          one.json().map((d: { id: string }) => d.id),
          [b.id],
        );
        const recent = await call('GET', `${MGMT}/devices?issued_after=2026-03-01T10:00:30Z`);
        assert.deepEqual(
          recent.json().map((d: { id: string; alerts: { subject: { name: string } }[] }) => [d.id, d.alerts.length]),
          [
            [b.id, 1],
            [a.id, 1],
          ],
          "only the checks whose latest alert is in range: b's 11:00, a's disk at 10:01",
        );
        assert.equal((await call('GET', `${MGMT}/devices?issued_before=soon`)).statusCode, 400);
        const paged = await call('GET', `${MGMT}/devices?per_page=1&page=2`);
        assert.deepEqual(
          paged.json().map((d: { id: string }) => d.id),
          [a.id],
        );

        const nobody = '00000000-0000-4000-8000-000000000000';
        for (const path of ['alerts', 'alerts/latest', 'config']) {
          assert.equal((await call('GET', `${MGMT}/devices/${nobody}/${path}`)).statusCode, 404, path);
        }
        const asDevice = await fresh.app.inject({
          method: 'GET',
          url: `${MGMT}/devices`,
          headers: { authorization: `Bearer ${a.token}` },
        });
        assert.equal(asDevice.statusCode, 403);
        const asUser = await fresh.app.inject({
          method: 'POST',
          url: `${DEVICE}/alert`,
          headers: { authorization: `Bearer ${freshToken}` },
          payload: [alert('OK', '2026-03-01T10:00:00Z')],
        });
        assert.equal(asUser.statusCode, 403);

        assert.equal((await call('DELETE', `/api/management/v2/devauth/devices/${a.id}`)).statusCode, 204);
        assert.deepEqual(
          (await call('GET', `${MGMT}/devices`)).json().map((d: { id: string }) => d.id),
          [b.id],
          "a decommissioned device's alerts go with it",
        );
      } finally {
        await fresh.close();
      }
    });
  });
}
