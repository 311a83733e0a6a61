// Kanto on an external broker (the real Mosquitto) with two server processes on one database: both hear every device
// message. A device whose update manager (re)starts is asked for its current state once, by the process that holds
// the push lease, not once per process.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { KantoDeviceSimulator } from '../../src/agent/kanto/device.js';
import { secondProcess } from '../auth/support.js';
import { dialects, type TestApp } from '../support/app.js';
import { eventually, kantoApp, registerThing, simulator, uniqueThing } from './support.js';

for (const dialect of dialects) {
  describe(`Kanto on an external broker, two processes (${dialect})`, () => {
    let t: TestApp;
    let token: string;
    let url: string;
    let b: { app: FastifyInstance; close(): Promise<void> };
    const devices: KantoDeviceSimulator[] = [];

    before(async () => {
      ({ t, token, url } = await kantoApp(dialect, 'mosquitto'));
      b = await secondProcess(t);
      assert.equal(b.app.kanto.broker?.kind, 'external');
    });
    after(async () => {
      for (const d of devices) await d.close();
      await b?.close();
      await t?.close();
    });

    it('asks a (re)started device for its current state once, not once per process', async () => {
      const thingId = uniqueThing('two');
      const thing = await registerThing(t, token, thingId, 'two-processes');
      const device = simulator(t, 'mosquitto', url, { thingId });
      devices.push(device);
      const refreshes: string[] = [];
      device.on('command', (operation: string) => {
        if (operation === 'refresh') refreshes.push(operation);
      });
      await device.connect();
      await eventually('the refresh', async () => (refreshes.length > 0 ? true : undefined));
      // A message both processes refuse, sent after the device's start: once each has refused it, each has handled
      // the start before it (one subscriber's messages arrive in order).
      await device.publishRaw(`event/${t.tenant.id}/${thingId}`, 'not json');
      const refused = (app: FastifyInstance) =>
        app.kanto.adapter?.refusals.some((r) => r.topic.endsWith(thingId) && /malformed/.test(r.reason));
      await eventually('both processes to refuse the marker', async () =>
        refused(t.app) && refused(b.app) ? true : undefined,
      );
      await t.app.kanto.adapter?.settled();
      await b.app.kanto.adapter?.settled();
      const rows = await t.services.store.db
        .selectFrom('kanto_activities')
        .select('kind')
        .where('tenant_id', '=', t.tenant.id)
        .where('device_id', '=', thing.device_id)
        .execute();
      assert.deepEqual(
        rows.map((r) => r.kind),
        ['refresh'],
      );
      assert.deepEqual(refreshes, ['refresh']);
    });
  });
}
