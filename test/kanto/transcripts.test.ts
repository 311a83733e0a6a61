// Replays what a real Eclipse Kanto update manager sent Flotilla, message by message: transcripts/A-cloud-link.txt
// holds every MQTT packet between a device-local broker's bridge (as suite-connector bridges) and Flotilla's
// embedded broker, recorded on 2026-12-06 (research/kanto-transcripts/README.txt, arrangement A). The replay connects
// as that bridge, and for each packet Flotilla sent there it makes this server send its own (a deployment of the same
// desired state, an operator's refresh) and maps the ids; each packet the device sent goes out again with the ids
// mapped. The outcomes must be the recorded ones: success, then three failures (a component failing to download, a
// domain no agent handles, the update manager stopped in the middle), the current state in inventory, and no message
// refused.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { dialects, type TestApp } from '../support/app.js';
import {
  call,
  createDesiredState,
  deploy,
  deviceStatus,
  eventually,
  inventory,
  KANTO,
  kantoApp,
  registerThing,
} from './support.js';

const RECORDED_TENANT = '8e3b030e-4564-4e39-82d4-b0df07900c49';
const THING = 'org.eclipse.kanto:exampleDevice';

interface Packet {
  from: 'device' | 'flotilla';
  topic: string;
  envelope: {
    headers?: Record<string, unknown>;
    value?: { activityId?: string; desiredState?: unknown } & Record<string, unknown>;
  } & Record<string, unknown>;
}

/** The PUBLISH packets of the transcript, in order. */
function packets(): Packet[] {
  const text = readFileSync(join(import.meta.dirname, 'transcripts/A-cloud-link.txt'), 'utf8');
  const out: Packet[] = [];
  for (const line of text.split('\n')) {
    const m = /^\S+ c1 (bridge->flotilla|flotilla->bridge) PUBLISH q\d r\d mid=\d+ (\S+) (\{.*\})$/.exec(line);
    if (!m) continue;
    out.push({ from: m[1] === 'bridge->flotilla' ? 'device' : 'flotilla', topic: m[2], envelope: JSON.parse(m[3]) });
  }
  return out;
}

interface Command {
  requestId: string;
  correlationId: string;
  activityId: string;
  operation: string;
}

function commandOf(topic: string, envelope: Packet['envelope']): Command {
  const [, , , , requestId, operation] = topic.split('/');
  return {
    requestId,
    operation,
    correlationId: String(envelope.headers?.['correlation-id']),
    activityId: String(envelope.value?.activityId),
  };
}

for (const dialect of dialects) {
  describe(`replay of a real Kanto update manager's transcript (${dialect})`, () => {
    let t: TestApp;
    let token: string;
    let bridge: MqttClient;
    before(async () => {
      // Flotilla's defaults for command answers (30 s, 3 attempts): the replay answers at once.
      let url: string;
      ({ t, token, url } = await kantoApp(dialect, 'embedded', { kantoCommandTimeout: 30, kantoCommandAttempts: 3 }));
      const registered = await registerThing(t, token, THING, 'kanto-replay');
      const received: Command[] = [];
      bridge = await mqtt.connectAsync(url, {
        clientId: `sc-${THING}`,
        username: registered.username,
        password: registered.password,
        protocolVersion: 4,
        reconnectPeriod: 0,
      });
      bridge.on('message', (topic, payload) => received.push(commandOf(topic, JSON.parse(payload.toString()))));
      context = { received, deviceId: registered.device_id };
    });
    after(async () => {
      await bridge?.endAsync(true);
      await t.close();
    });
    let context: { received: Command[]; deviceId: string };

    it('ends as the recorded run did, message for message', async () => {
      const { received, deviceId } = context;
      // Recorded ids → this server's: activities, and each recorded correlation id → the activity it belonged to.
      const activities = new Map<string, Command>();
      const recordedActivityOf = new Map<string, string>();
      const recordedRequestActivity = new Map<string, string>();
      const deployments: string[] = [];
      let consumed = 0;
      const nextCommand = (operation: string) =>
        eventually(`this server's ${operation}`, async () => {
          const i = received.findIndex((c, n) => n >= consumed && c.operation === operation);
          if (i < 0) return undefined;
          consumed = i + 1;
          return received[i];
        });
      await bridge.subscribeAsync('command//+/req/#', { qos: 1 });
      let refreshes = 0;
      for (const packet of packets()) {
        if (packet.from === 'flotilla') {
          const recorded = commandOf(packet.topic, packet.envelope);
          recordedActivityOf.set(recorded.correlationId, recorded.activityId);
          recordedRequestActivity.set(recorded.requestId, recorded.activityId);
          if (activities.has(recorded.activityId)) continue; // the recorded server sent it again; this one need not
          if (recorded.operation === 'apply') {
            // An operator deployed this desired state: do the same here.
            const n = deployments.length + 1;
            const state = await createDesiredState(t, token, `replay-${dialect}-${n}`, ['kanto-replay'], {
              ...(packet.envelope.value?.desiredState as object),
            });
            deployments.push(await deploy(t, token, state.name, [deviceId]));
          } else if (refreshes++ > 0) {
            // The first refresh is the one sent on connect; the others were asked for.
            assert.equal((await call(t, token, 'POST', `${KANTO}/devices/${deviceId}/refresh`)).statusCode, 202);
          }
          activities.set(recorded.activityId, await nextCommand(recorded.operation));
          continue;
        }
        // The device's packet with this server's ids: its topic's tenant and request id, the correlation id of the
        // command it answers, the activity it reports on.
        let topic = packet.topic.replace(RECORDED_TENANT, t.tenant.id);
        const envelope = structuredClone(packet.envelope);
        const response = /^command\/\/\/res\/([^/]+)\/(\d+)$/.exec(topic);
        if (response) {
          const ours = activities.get(recordedRequestActivity.get(response[1]) ?? '');
          assert.ok(ours, `an answer to a command of the transcript: ${topic}`);
          topic = `command///res/${ours.requestId}/${response[2]}`;
        }
        const correlation = envelope.headers?.['correlation-id'];
        if (typeof correlation === 'string' && envelope.headers) {
          const ours = activities.get(recordedActivityOf.get(correlation) ?? '');
          if (ours) envelope.headers['correlation-id'] = ours.correlationId;
        }
        const activityId = envelope.value?.activityId;
        if (typeof activityId === 'string' && envelope.value && activities.has(activityId)) {
          envelope.value.activityId = activities.get(activityId)?.activityId;
        }
        await bridge.publishAsync(topic, JSON.stringify(envelope), { qos: 1 });
        await t.app.kanto.adapter?.settled();
      }
      const statuses = [];
      for (const id of deployments) statuses.push(await deviceStatus(t, token, id, deviceId));
      assert.deepEqual(statuses, ['success', 'failure', 'failure', 'failure']);
      const attributes = await eventually('the current state in inventory', async () => {
        const a = await inventory(t, deviceId);
        return a['kanto.sw.device-update-manager'] ? a : undefined;
      });
      assert.equal(attributes['kanto.sw.device-update-manager'], 'development');
      assert.equal(attributes.artifact_name, `replay-${dialect}-1-1.0`, 'what the successful apply installed');
      assert.deepEqual(
        (t.app.kanto.adapter?.refusals ?? []).map((r) => r.reason),
        [],
        'no message of the real update manager refused',
      );
      assert.equal(received.filter((c) => c.operation === 'apply').length, 4, 'each apply sent once');
    });
  });
}
