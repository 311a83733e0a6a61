// The Kanto adapter end to end in-process: Flotilla with its embedded broker (free port) and with the real Mosquitto
// at 127.0.0.1:1883, our simulated Kanto device following the update manager's protocol, on both SQL dialects.
// A desired state deployment reaches success; a failing component ends in failure with the feedback in the log;
// refresh updates inventory; hostile messages are refused, change nothing and leave the connections up.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { KantoDeviceSimulator } from '../../src/agent/kanto/device.js';
import { dialects, type TestApp } from '../support/app.js';
import {
  type BrokerKind,
  call,
  compositeApp,
  createDesiredState,
  DEPLOYMENTS,
  deploy,
  deviceLog,
  deviceStatus,
  eventually,
  inventory,
  KANTO,
  kantoApp,
  registerThing,
  simulator,
  uniqueThing,
} from './support.js';

const brokers: BrokerKind[] = ['embedded', 'mosquitto'];

for (const dialect of dialects) {
  for (const broker of brokers) {
    describe(`Kanto over ${broker} broker (${dialect})`, () => {
      let t: TestApp;
      let token: string;
      let url: string;
      const devices: KantoDeviceSimulator[] = [];

      before(async () => {
        ({ t, token, url } = await kantoApp(dialect, broker));
      });
      after(async () => {
        for (const d of devices) await d.close();
        await t.close();
      });

      /** This app's refusals of one thing's messages (a shared Mosquitto carries other tests' traffic too). */
      const refusalsOf = (thingId: string) =>
        (t.app.kanto.adapter?.refusals ?? []).filter((r) => r.topic.includes(thingId));

      async function connectedDevice(deviceType: string, options = {}) {
        const thingId = uniqueThing();
        const registered = await registerThing(t, token, thingId, deviceType);
        const device = simulator(t, broker, url, { thingId, ...registered }, options);
        devices.push(device);
        await device.connect();
        // Admission: the registration preauthorized the thing; showing up accepts it.
        await eventually('the device to be accepted', async () => {
          const view = await t.services.devices.get(t.tenant.id, registered.device_id);
          return view.status === 'accepted' ? view : undefined;
        });
        return { device, deviceId: registered.device_id, thingId, registered };
      }

      it('deploys a desired state to success, with the feedback as log and the current state in inventory', async () => {
        const type = `kanto-ok-${broker}`;
        const state = await createDesiredState(t, token, `composite-${broker}`, [type]);
        const { device, deviceId } = await connectedDevice(type);
        const deploymentId = await deploy(t, token, state.name, [deviceId]);
        await eventually('success', async () =>
          (await deviceStatus(t, token, deploymentId, deviceId)) === 'success' ? true : undefined,
        );
        const apply = device.commands.find((c) => c.envelope.path === '/features/UpdateManager/inbox/messages/apply');
        assert.ok(apply, 'the device got apply');
        assert.equal(apply.envelope.headers?.['response-required'], true);
        assert.equal(typeof apply.envelope.headers?.['correlation-id'], 'string');
        assert.deepEqual((apply.envelope.value as { desiredState: unknown }).desiredState, compositeApp);
        const log = await deviceLog(t, token, deploymentId, deviceId);
        assert.match(log, /desired state COMPLETED/);
        assert.match(log, /containers:influxdb 2\.7\.1 UPDATE_SUCCESS/);
        const attrs = await eventually('inventory from the current state', async () => {
          const a = await inventory(t, deviceId);
          return a['kanto.sw.containers:influxdb'] === '2.7.1' ? a : undefined;
        });
        assert.equal(attrs.artifact_name, state.name);
        assert.equal(attrs.device_type, type);
        assert.equal(attrs['kanto.sw.containers:hello-world.image'], 'docker.io/library/hello-world:latest');
        const deployment = await call(t, token, 'GET', `/api/management/v1/deployments/deployments/${deploymentId}`);
        assert.equal(deployment.json().status, 'finished');
      });

      it('ends in failure when a component fails, with the component feedback in the device log', async () => {
        const type = `kanto-fail-${broker}`;
        const state = await createDesiredState(t, token, `failing-${broker}`, [type]);
        const { deviceId } = await connectedDevice(type, {
          failComponent: { id: 'containers:influxdb', phase: 'download', message: 'failed to pull image: not found' },
        });
        const deploymentId = await deploy(t, token, state.name, [deviceId]);
        await eventually('failure', async () =>
          (await deviceStatus(t, token, deploymentId, deviceId)) === 'failure' ? true : undefined,
        );
        const log = await deviceLog(t, token, deploymentId, deviceId);
        assert.match(log, /desired state INCOMPLETE/);
        assert.match(log, /containers:influxdb 2\.7\.1 DOWNLOAD_FAILURE: failed to pull image: not found/);
        const attrs = await inventory(t, deviceId);
        assert.equal(attrs.artifact_name, undefined, 'nothing was installed');
      });

      it('refresh updates inventory from the device current state', async () => {
        const { device, deviceId } = await connectedDevice(`kanto-refresh-${broker}`);
        device.options.hardwareNodes = [
          { id: 'board', version: 'rev2', parameters: [{ key: 'cpu-arch', value: 'armv7' }] },
        ];
        const res = await call(t, token, 'POST', `${KANTO}/devices/${deviceId}/refresh`);
        assert.equal(res.statusCode, 202, res.body);
        const attrs = await eventually('refreshed inventory', async () => {
          const a = await inventory(t, deviceId);
          return a['kanto.hw.board'] === 'rev2' ? a : undefined;
        });
        assert.equal(attrs['kanto.hw.board.cpu-arch'], 'armv7');
        const refresh = device.commands.filter((c) => c.envelope.path.endsWith('/inbox/messages/refresh'));
        assert.ok(refresh.length >= 1);
      });

      it('refuses malformed messages and replayed correlation ids, changes nothing, keeps connections up', async () => {
        const { device, deviceId, thingId } = await connectedDevice(`kanto-hostile-${broker}`);
        await eventually('the connect refresh answered', async () => (device.responses.length > 0 ? true : undefined));
        await eventually('the device reported its state', async () =>
          (await inventory(t, deviceId))['kanto.sw.device-update-manager'] ? true : undefined,
        );
        await device.idle();
        await t.app.kanto.adapter?.settled();
        const before = await inventory(t, deviceId);
        const refusals = () => refusalsOf(thingId);
        const start = refusals().length;
        const prefix = thingId.replace(':', '/');
        await device.publishEvent('{not json');
        await device.publishEvent({
          topic: `${prefix}/things/twin/commands/modify`,
          path: '/features/UpdateManager/bogus',
          value: {},
        });
        // Another feature of a full Kanto device is none of Flotilla's business: ignored, not refused.
        await device.publishEvent({
          topic: `${prefix}/things/twin/commands/modify`,
          path: '/features/ContainerFactory',
          value: { definition: ['com.bosch.iot.suite.edge.containers:ContainerFactory:1.3.0'] },
        });
        await device.publishEvent({
          topic: `${prefix}/things/twin/commands/modify`,
          path: '/features/UpdateManager/properties',
          value: { inventory: { softwareNodes: 'everything' } },
        });
        await device.publishEvent({
          topic: 'another.ns/thing/things/twin/commands/modify',
          path: '/features/UpdateManager/properties',
          value: { inventory: { softwareNodes: [{ id: 'evil', version: '1' }] } },
        });
        // The connect refresh's answer again: its correlation id was answered already.
        const answered = device.responses[0];
        await device.publishRaw(answered.topic, answered.payload);
        await device.publishResponse('feedc0de', 204, {
          topic: `${prefix}/things/live/messages/apply`,
          headers: { 'correlation-id': 'never-sent' },
          path: '/features/UpdateManager/outbox/messages/apply',
          status: 204,
        });
        await device.publishEvent({
          topic: `${prefix}/things/live/messages/feedback`,
          path: '/features/UpdateManager/outbox/messages/feedback',
          value: {
            activityId: 'no-such-activity',
            timestamp: Date.now(),
            desiredStateFeedback: { status: 'COMPLETED' },
          },
        });
        const reasons = await eventually('seven refusals', async () => {
          const got = refusals().slice(start);
          return got.length >= 7 ? got.map((r) => r.reason) : undefined;
        });
        assert.ok(
          reasons.some((r) => r.startsWith('malformed Ditto message: payload is not JSON')),
          reasons.join('\n'),
        );
        assert.ok(reasons.some((r) => r.includes('unknown twin path')));
        assert.ok(reasons.some((r) => r.includes('softwareNodes must be a list')));
        assert.ok(reasons.some((r) => r.includes('names thing another.ns:thing')));
        assert.ok(reasons.some((r) => r.includes('replayed')));
        assert.ok(reasons.some((r) => r.includes('unknown correlation id')));
        assert.ok(reasons.some((r) => r.includes('unknown activity')));
        assert.equal(reasons.length, 7, reasons.join('\n'));
        assert.deepEqual(await inventory(t, deviceId), before, 'inventory unchanged');
        assert.ok(device.connected, 'the device connection stays up');
        // The adapter still works for this device afterwards.
        assert.equal((await call(t, token, 'POST', `${KANTO}/devices/${deviceId}/refresh`)).statusCode, 202);
        await eventually('another refresh answer', async () => (device.responses.length > 1 ? true : undefined));
      });

      it('refuses messages of unknown devices and replayed feedback', async () => {
        const type = `kanto-replay-${broker}`;
        const state = await createDesiredState(t, token, `replay-${broker}`, [type]);
        const { device, deviceId, thingId } = await connectedDevice(type);
        const feedback: string[] = [];
        const publish = device.publishEvent.bind(device);
        device.publishEvent = async (message) => {
          const text = typeof message === 'string' ? message : JSON.stringify(message);
          if (text.includes('/outbox/messages/feedback')) feedback.push(text);
          return publish(message);
        };
        const deploymentId = await deploy(t, token, state.name, [deviceId]);
        await eventually('success', async () =>
          (await deviceStatus(t, token, deploymentId, deviceId)) === 'success' ? true : undefined,
        );
        const logBefore = await deviceLog(t, token, deploymentId, deviceId);
        const start = refusalsOf(thingId).length;
        await publish(feedback[1]);
        await eventually('the replay refused', async () => (refusalsOf(thingId).length > start ? true : undefined));
        assert.match(refusalsOf(thingId).at(-1)?.reason ?? '', /finished activity/);
        assert.equal(await deviceLog(t, token, deploymentId, deviceId), logBefore);
        assert.equal(await deviceStatus(t, token, deploymentId, deviceId), 'success');
        if (broker === 'mosquitto') {
          // On a plain broker anyone may publish on a per-device topic: an unregistered thing is refused.
          const stranger = simulator(t, broker, url, { thingId: uniqueThing('stranger') });
          devices.push(stranger);
          await stranger.connect();
          await eventually('the stranger refused', async () =>
            refusalsOf(stranger.options.thingId).some((r) => r.reason.startsWith('unknown device')) ? true : undefined,
          );
        }
      });

      if (broker === 'embedded') {
        it('rolls out to a static group; an abort ends the attempt and does not block the next deployment', async () => {
          const type = 'kanto-group';
          const first = await createDesiredState(t, token, 'group-first', [type]);
          const a = await connectedDevice(type);
          const b = await connectedDevice(type);
          for (const d of [a, b]) {
            const res = await call(t, token, 'PUT', `/api/management/v1/inventory/devices/${d.deviceId}/group`, {
              group: 'kanto-fleet',
            });
            assert.equal(res.statusCode, 204, res.body);
          }
          // Device b takes the desired state and then never reports: its update manager hangs.
          const hang = b.device as unknown as { orchestrate: (...args: unknown[]) => Promise<void> };
          const orchestrate = hang.orchestrate;
          hang.orchestrate = async () => undefined;
          const created = await call(t, token, 'POST', `${DEPLOYMENTS}/group/kanto-fleet`, {
            name: 'fleet',
            artifact_name: first.name,
          });
          assert.equal(created.statusCode, 201, created.body);
          const deploymentId = String(created.headers.location).split('/').pop() as string;
          await eventually('a succeeded, b downloading', async () =>
            (await deviceStatus(t, token, deploymentId, a.deviceId)) === 'success' &&
            (await deviceStatus(t, token, deploymentId, b.deviceId)) === 'downloading'
              ? true
              : undefined,
          );
          const abort = await call(t, token, 'PUT', `${DEPLOYMENTS}/${deploymentId}/status`, { status: 'aborted' });
          assert.equal(abort.statusCode, 204, abort.body);
          assert.equal(await deviceStatus(t, token, deploymentId, b.deviceId), 'aborted');
          hang.orchestrate = orchestrate;
          const second = await createDesiredState(t, token, 'group-second', [type], {
            domains: [{ id: 'containers', components: [{ id: 'nginx', version: '1.25' }] }],
          });
          const next = await deploy(t, token, second.name, [b.deviceId]);
          await eventually('the next deployment succeeds on b', async () =>
            (await deviceStatus(t, token, next, b.deviceId)) === 'success' ? true : undefined,
          );
          assert.equal((await inventory(t, b.deviceId)).artifact_name, second.name);
        });

        it('joins a Kanto device to a dynamic (saved filter) deployment when it is polled', async () => {
          const type = 'kanto-dynamic';
          // Connected and idle before the deployment exists: only the poll can bring the two together.
          const { deviceId } = await connectedDevice(type);
          await t.app.kanto.adapter?.settled();
          const state = await createDesiredState(t, token, 'dynamic', [type]);
          const filter = await t.services.inventory.createFilter(t.tenant.id, {
            name: 'kanto-dynamic',
            terms: [{ scope: 'inventory', attribute: 'device_type', type: '$eq', value: type }],
          });
          const created = await call(t, token, 'POST', '/api/management/v2/deployments/deployments', {
            name: 'dynamic',
            artifact_name: state.name,
            filter_id: filter.id,
          });
          assert.equal(created.statusCode, 201, created.body);
          const deploymentId = String(created.headers.location).split('/').pop() as string;
          await t.app.kanto.adapter?.pollAll();
          await eventually('success by the dynamic deployment', async () =>
            (await deviceStatus(t, token, deploymentId, deviceId)) === 'success' ? true : undefined,
          );
        });

        it('refuses anonymous clients and wrong credentials at connect', async () => {
          const thingId = uniqueThing('creds');
          const registered = await registerThing(t, token, thingId, 'kanto-creds');
          for (const creds of [
            {},
            { username: registered.username, password: 'wrong-password-123' },
            { username: `${uniqueThing('nobody')}@${t.tenant.id}`, password: registered.password },
            { username: thingId, password: registered.password },
          ]) {
            const device = simulator(t, broker, url, { thingId, ...creds });
            await assert.rejects(device.connect(), /Bad username or password|Not authorized|refused/i);
            await device.close();
          }
          const view = await t.services.devices.get(t.tenant.id, registered.device_id);
          assert.equal(view.status, 'preauthorized', 'nothing changed for the registered device');
        });

        it('keeps a device an operator rejected out, and refuses what it still sends', async () => {
          const { device, deviceId, thingId, registered } = await connectedDevice('kanto-rejected');
          const view = await t.services.devices.get(t.tenant.id, deviceId);
          const res = await call(
            t,
            token,
            'PUT',
            `/api/management/v2/devauth/devices/${deviceId}/auth/${view.auth_sets[0].id}/status`,
            { status: 'rejected' },
          );
          assert.equal(res.statusCode, 204, res.body);
          await t.app.kanto.adapter?.settled();
          const before = await inventory(t, deviceId);
          device.options.hardwareNodes = [{ id: 'smuggled', version: '1' }];
          await device.reportCurrentState('');
          await eventually('the report refused', async () =>
            refusalsOf(thingId).some((r) => r.reason.includes('rejected by an operator')) ? true : undefined,
          );
          assert.deepEqual(await inventory(t, deviceId), before);
          await device.close();
          const again = simulator(t, broker, url, { thingId, ...registered });
          await assert.rejects(again.connect(), /Not authorized/i, 'the right password, but rejected');
          await again.close();
        });

        it("refuses a device that takes another device's MQTT client id", async () => {
          const victim = await connectedDevice('kanto-clientid', { clientId: `kanto-victim-${Date.now()}` });
          const thingId = uniqueThing('thief');
          const registered = await registerThing(t, token, thingId, 'kanto-clientid');
          const thief = simulator(
            t,
            broker,
            url,
            { thingId, ...registered },
            { clientId: victim.device.options.clientId },
          );
          await assert.rejects(thief.connect(), /Identifier rejected|refused/i);
          await thief.close();
          assert.ok(victim.device.connected, 'the victim keeps its connection');
        });

        it('drops what a device publishes on another device topic and keeps its connection', async () => {
          const { device } = await connectedDevice('kanto-confined');
          const { deviceId: otherId, thingId: otherThing } = await connectedDevice('kanto-confined');
          // The other device's own reports first (connect, refresh), so that only the intruder could change it.
          await eventually('the other device reported', async () =>
            (await inventory(t, otherId))['kanto.sw.device-update-manager'] ? true : undefined,
          );
          await t.app.kanto.adapter?.settled();
          const before = await inventory(t, otherId);
          await device.publishRaw(
            `event/${t.tenant.id}/${otherThing}`,
            JSON.stringify({
              topic: `${otherThing.replace(':', '/')}/things/twin/commands/modify`,
              path: '/features/UpdateManager/properties',
              value: { inventory: { softwareNodes: [{ id: 'evil', version: '6.6.6' }] } },
            }),
          );
          await device.reportCurrentState('');
          await t.app.kanto.adapter?.settled();
          assert.deepEqual(await inventory(t, otherId), before);
          assert.ok(device.connected);
        });

        it('fails the attempt clearly when the device never answers apply', async () => {
          const type = 'kanto-silent';
          const state = await createDesiredState(t, token, 'silent', [type]);
          const { device, deviceId } = await connectedDevice(type);
          // A device whose update manager takes commands but never answers them.
          device.removeAllListeners('command');
          (device as unknown as { onApply: () => Promise<void> }).onApply = async () => undefined;
          const deploymentId = await deploy(t, token, state.name, [deviceId]);
          await eventually('failure by timeout', async () =>
            (await deviceStatus(t, token, deploymentId, deviceId)) === 'failure' ? true : undefined,
          );
          const applies = device.commands.filter((c) => c.envelope.path.endsWith('/apply'));
          assert.equal(applies.length, 2, 'sent twice (two attempts), each with its own correlation id');
          assert.notEqual(
            applies[0].envelope.headers?.['correlation-id'],
            applies[1].envelope.headers?.['correlation-id'],
          );
          assert.match(await deviceLog(t, token, deploymentId, deviceId), /did not answer apply after 2 attempt/);
        });
      }
    });
  }
}
