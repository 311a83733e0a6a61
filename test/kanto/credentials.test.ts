// Hono-style credentials on the embedded broker: an auth-id per thing apart from its thing id, the tenant given by its
// name, and MQTT over TLS beside plain MQTT (a certificate made by openssl for this test). Both SQL dialects.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { KantoDeviceSimulator } from '../../src/agent/kanto/device.js';
import { EmbeddedBroker } from '../../src/broker/embedded.js';
import { dialects, type TestApp } from '../support/app.js';
import { call, eventually, inventory, KANTO, kantoApp, simulator, uniqueThing } from './support.js';

function selfSigned(dir: string): { cert: string; key: string } {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    key,
    '-out',
    cert,
    '-days',
    '2',
    '-subj',
    '/CN=127.0.0.1',
    '-addext',
    'subjectAltName=IP:127.0.0.1',
  ]);
  return { cert, key };
}

for (const dialect of dialects) {
  describe(`Kanto credentials as Hono takes them (${dialect})`, () => {
    let t: TestApp;
    let token: string;
    let url: string;
    let dir: string;
    let cert: string;
    const devices: KantoDeviceSimulator[] = [];
    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'flotilla-mqtt-tls-'));
      const files = selfSigned(dir);
      cert = readFileSync(files.cert, 'utf8');
      ({ t, token, url } = await kantoApp(dialect, 'embedded', {
        mqttTls: { port: 0, certFile: files.cert, keyFile: files.key },
      }));
    });
    after(async () => {
      for (const d of devices) await d.close();
      await t.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it('logs a thing in by its auth-id and the tenant name, over TLS, and refuses its thing id then', async () => {
      const thingId = uniqueThing('creds');
      const authId = `sensor-${thingId.slice(-10)}`;
      const res = await call(t, token, 'POST', `${KANTO}/devices`, {
        thing_id: thingId,
        auth_id: authId,
        device_type: 'kanto-creds',
      });
      assert.equal(res.statusCode, 201, res.body);
      const registered = res.json();
      assert.equal(registered.auth_id, authId);
      assert.equal(registered.username, `${authId}@${t.tenant.id}`);
      const broker = t.app.kanto.broker;
      const tlsUrl = broker instanceof EmbeddedBroker ? broker.tlsAddress() : '';
      assert.match(String(tlsUrl), /^mqtts:\/\/127\.0\.0\.1:\d+$/);
      const byName = `${authId}@${t.tenant.hawkbit_name}`;
      const device = simulator(
        t,
        'embedded',
        String(tlsUrl),
        { thingId, username: byName, password: registered.password },
        { ca: cert },
      );
      devices.push(device);
      await device.connect();
      await eventually('the current state over TLS', async () =>
        (await inventory(t, registered.device_id))['kanto.sw.device-update-manager'] ? true : undefined,
      );
      const view = await call(t, token, 'GET', `${KANTO}/devices/${registered.device_id}`);
      assert.equal(view.json().connector_connected, true);
      // The thing id is not what it logs in with any more; plain MQTT takes the same credentials as TLS.
      const byThing = simulator(t, 'embedded', url, {
        thingId,
        username: `${thingId}@${t.tenant.id}`,
        password: registered.password,
      });
      await assert.rejects(byThing.connect(), /Bad username or password|Connection refused/);
      await byThing.close();
      const plain = simulator(t, 'embedded', url, { thingId, username: byName, password: registered.password });
      devices.push(plain);
      await plain.connect();
    });

    it('refuses an auth-id that another thing has, and malformed ones', async () => {
      const first = uniqueThing('creds');
      const authId = `gateway-${first.slice(-10)}`;
      assert.equal(
        (await call(t, token, 'POST', `${KANTO}/devices`, { thing_id: first, auth_id: authId })).statusCode,
        201,
      );
      const taken = await call(t, token, 'POST', `${KANTO}/devices`, {
        thing_id: uniqueThing('creds'),
        auth_id: authId,
      });
      assert.equal(taken.statusCode, 409, taken.body);
      assert.match(taken.json().error, /auth_id/);
      for (const bad of ['', 'has space', 'a/b', 'x'.repeat(257), 42]) {
        const res = await call(t, token, 'POST', `${KANTO}/devices`, { thing_id: uniqueThing('creds'), auth_id: bad });
        assert.equal(res.statusCode, 400, `${JSON.stringify(bad)}: ${res.body}`);
      }
    });
  });
}
