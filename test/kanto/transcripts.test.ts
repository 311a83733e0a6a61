// Replays what a real Eclipse Kanto update manager sent Flotilla, message by message (research/kanto-transcripts,
// recorded on 2026-12-06 with the real update manager):
// - A: every MQTT packet between a device-local broker's bridge (as suite-connector bridges) and Flotilla's embedded
//   broker (A-cloud-link.txt): success, then three failures (a component failing to download, a domain no agent
//   handles, the update manager stopped in the middle).
// - B: everything on a plain "cloud" Mosquitto that Flotilla used as its external broker (B-cloud-broker.txt), first
//   with the bridge forwarding answers, then mapping topics as suite-connector's generic mode does, which forwards no
//   answers at all — where the recorded server sent apply and refresh again and again and the update manager ran the
//   same desired state three times.
// The replay plays the device: for each command the recorded server sent, it makes this server send its own (a
// deployment of the same desired state, an operator's refresh, or nothing when this server sends it by itself) and
// maps the ids; each packet the device sent goes out again with the ids mapped, except the device's reactions to a
// command sent again that it had already acted on (this server does not send those again). The outcomes must be the
// recorded ones, with nothing refused and each command sent once.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { dialects, type TestApp } from '../support/app.js';
import {
  type BrokerKind,
  call,
  createDesiredState,
  deploy,
  deviceStatus,
  eventually,
  inventory,
  KANTO,
  kantoApp,
  MOSQUITTO_URL,
  registerThing,
} from './support.js';

interface Packet {
  from: 'device' | 'flotilla';
  topic: string;
  envelope: {
    headers?: Record<string, unknown>;
    value?: { activityId?: string; desiredState?: unknown } & Record<string, unknown>;
  } & Record<string, unknown>;
}

interface Transcript {
  file: string;
  broker: BrokerKind;
  tenant: string;
  thingId: string;
  /** A packet of the file, or undefined for lines that are not PUBLISH packets. */
  read(line: string): Packet | undefined;
  outcomes: string[];
}

const TRANSCRIPTS: Transcript[] = [
  {
    file: 'A-cloud-link.txt',
    broker: 'embedded',
    tenant: '8e3b030e-4564-4e39-82d4-b0df07900c49',
    thingId: 'org.eclipse.kanto:exampleDevice',
    read(line) {
      const m = /^\S+ c1 (bridge->flotilla|flotilla->bridge) PUBLISH q\d r\d mid=\d+ (\S+) (\{.*\})$/.exec(line);
      if (!m) return undefined;
      return { from: m[1] === 'bridge->flotilla' ? 'device' : 'flotilla', topic: m[2], envelope: JSON.parse(m[3]) };
    },
    outcomes: ['success', 'failure', 'failure', 'failure'],
  },
  {
    file: 'B-cloud-broker.txt',
    broker: 'mosquitto',
    tenant: 'b012895e-adda-4459-915d-a564e1ee3302',
    thingId: 'org.eclipse.kanto:genericDevice',
    read(line) {
      const m = /^\S+ q\d r\d (\S+) (\{.*\})$/.exec(line);
      if (!m) return undefined;
      return { from: m[1].includes('//req/') ? 'flotilla' : 'device', topic: m[1], envelope: JSON.parse(m[2]) };
    },
    outcomes: ['success', 'success'],
  },
];

interface Command {
  requestId: string;
  correlationId: string;
  activityId: string;
  operation: string;
}

function commandOf(topic: string, envelope: Packet['envelope']): Command {
  const parts = topic.split('/');
  const req = parts.indexOf('req');
  return {
    requestId: parts[req + 1],
    operation: parts[req + 2],
    correlationId: String(envelope.headers?.['correlation-id']),
    activityId: String(envelope.value?.activityId),
  };
}

for (const dialect of dialects) {
  for (const transcript of TRANSCRIPTS) {
    describe(`replay of a real Kanto update manager: ${transcript.file} (${dialect})`, () => {
      let t: TestApp | undefined;
      let bridge: MqttClient | undefined;
      after(async () => {
        await bridge?.endAsync(true);
        await t?.close();
      });

      it('ends as the recorded run did, message for message', async () => {
        // Flotilla's defaults for command answers (30 s, 3 attempts): the replay answers at once.
        const app = await kantoApp(dialect, transcript.broker, { kantoCommandTimeout: 30, kantoCommandAttempts: 3 });
        t = app.t;
        const { token } = app;
        const tenantId = t.tenant.id;
        const registered = await registerThing(t, token, transcript.thingId, `kanto-replay-${transcript.file}`);
        const received: Command[] = [];
        bridge = await mqtt.connectAsync(transcript.broker === 'embedded' ? app.url : MOSQUITTO_URL, {
          clientId: `replay-${tenantId}`,
          ...(transcript.broker === 'embedded' ? { username: registered.username, password: registered.password } : {}),
          protocolVersion: 4,
          reconnectPeriod: 0,
        });
        bridge.on('message', (topic, payload) => received.push(commandOf(topic, JSON.parse(payload.toString()))));
        await bridge.subscribeAsync(
          transcript.broker === 'embedded' ? 'command//+/req/#' : `command/${tenantId}/${transcript.thingId}//req/#`,
          { qos: 1 },
        );
        // Recorded ids → this server's commands; each recorded correlation and request id → its recorded activity.
        const ours = new Map<string, Command>();
        const activityOf = new Map<string, string>();
        /** Recorded activities the device acted on already: its reactions to them being sent again are skipped. */
        const actedOn = new Set<string>();
        const sentAgain = new Set<string>();
        const deployments: string[] = [];
        let consumed = 0;
        const unconsumed = (operation: string) =>
          received.findIndex((c, n) => n >= consumed && c.operation === operation);
        const take = (i: number) => {
          consumed = i + 1;
          return received[i];
        };
        const lines = readFileSync(join(import.meta.dirname, 'transcripts', transcript.file), 'utf8').split('\n');
        for (const packet of lines.map((line) => transcript.read(line)).filter((p) => p !== undefined)) {
          if (packet.from === 'flotilla') {
            const recorded = commandOf(packet.topic, packet.envelope);
            activityOf.set(recorded.correlationId, recorded.activityId);
            activityOf.set(recorded.requestId, recorded.activityId);
            if (ours.has(recorded.activityId)) {
              // The recorded server sent it again; this one need not.
              if (actedOn.has(recorded.activityId)) sentAgain.add(recorded.activityId);
              continue;
            }
            if (recorded.operation === 'apply') {
              // An operator deployed this desired state: do the same here.
              const state = await createDesiredState(
                t,
                token,
                `replay-${dialect}-${deployments.length + 1}`,
                [`kanto-replay-${transcript.file}`],
                packet.envelope.value?.desiredState,
              );
              deployments.push(await deploy(t, token, state.name, [registered.device_id]));
            } else if (unconsumed('refresh') < 0) {
              // Not one this server sent by itself (on connect, or when the update manager came up): an operator's.
              await new Promise((resolve) => setTimeout(resolve, 300));
              if (unconsumed('refresh') < 0) {
                const res = await call(t, token, 'POST', `${KANTO}/devices/${registered.device_id}/refresh`);
                assert.equal(res.statusCode, 202, res.body);
              }
            }
            ours.set(
              recorded.activityId,
              await eventually(`this server's ${recorded.operation}`, async () => {
                const i = unconsumed(recorded.operation);
                return i < 0 ? undefined : take(i);
              }),
            );
            continue;
          }
          // The device's packet with this server's ids: its topic's tenant and request id, the correlation id of
          // the command it answers, the activity it reports on.
          const envelope = structuredClone(packet.envelope);
          const correlation = envelope.headers?.['correlation-id'];
          const response = /^(command\/[^/]*\/[^/]*\/\/res\/)([^/]+)(\/\d+)$/.exec(packet.topic);
          const recordedActivity =
            (response && activityOf.get(response[2])) ||
            (typeof correlation === 'string' && activityOf.get(correlation)) ||
            (typeof envelope.value?.activityId === 'string' && ours.has(envelope.value.activityId)
              ? envelope.value.activityId
              : undefined);
          if (recordedActivity && sentAgain.has(recordedActivity)) continue;
          if (recordedActivity) actedOn.add(recordedActivity);
          const command = recordedActivity ? ours.get(recordedActivity) : undefined;
          let topic = packet.topic.replace(transcript.tenant, tenantId);
          if (response) {
            assert.ok(command, `an answer to a command of the transcript: ${packet.topic}`);
            topic = `${response[1].replace(transcript.tenant, tenantId)}${command.requestId}${response[3]}`;
          }
          if (command && typeof correlation === 'string' && envelope.headers) {
            envelope.headers['correlation-id'] = command.correlationId;
          }
          if (command && envelope.value && envelope.value.activityId === recordedActivity) {
            envelope.value.activityId = command.activityId;
          }
          await bridge.publishAsync(topic, JSON.stringify(envelope), { qos: 1 });
          if (transcript.broker === 'embedded') await t.app.kanto.adapter?.settled();
          else await new Promise((resolve) => setTimeout(resolve, 20)); // on its way through Mosquitto
        }
        const statuses = await eventually('the recorded outcomes', async () => {
          const got = [];
          for (const id of deployments) got.push(await deviceStatus(t as TestApp, token, id, registered.device_id));
          return got.every((s) => s === 'success' || s === 'failure') ? got : undefined;
        });
        assert.deepEqual(statuses, transcript.outcomes);
        const attributes = await inventory(t, registered.device_id);
        assert.equal(attributes['kanto.sw.device-update-manager'], 'development', 'the current state in inventory');
        assert.equal(
          attributes.artifact_name,
          `replay-${dialect}-${transcript.outcomes.lastIndexOf('success') + 1}-1.0`,
        );
        const refusals = (t.app.kanto.adapter?.refusals ?? []).filter((r) => r.topic.includes(tenantId));
        assert.deepEqual(
          refusals.map((r) => r.reason),
          [],
          'no message of the real update manager refused',
        );
        const applies = received.filter((c) => c.operation === 'apply');
        assert.equal(applies.length, transcript.outcomes.length, 'each apply sent once');
        assert.equal(new Set(applies.map((c) => c.activityId)).size, applies.length);
      });
    });
  }
}
