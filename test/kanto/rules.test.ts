// Message rules without I/O: Hono topics and the embedded broker's rewriting, Ditto envelopes (every example in
// ./examples, copied from ../shared/specs/kanto/examples), feedback → deployment status, current state →
// inventory, desired state validation, and the correlation-id tracker.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  desiredStateArtifactName,
  parseDesiredState,
  parseNewDesiredState,
} from '../../src/artifacts/desired-state.js';
import { topicMatches } from '../../src/broker/external.js';
import {
  commandTopic,
  devicePublishTopic,
  deviceSubscription,
  forwardedCommandTopic,
  parseCloudTopic,
} from '../../src/broker/topics.js';
import { loadConfig } from '../../src/config.js';
import { CommandTracker } from '../../src/protocols/kanto/commands.js';
import { inventoryOf } from '../../src/protocols/kanto/current-state.js';
import { parseUsername } from '../../src/protocols/kanto/devices.js';
import {
  commandEnvelope,
  consentAnswerEnvelope,
  isThingId,
  MalformedMessage,
  parseEnvelope,
  readDeviceMessage,
} from '../../src/protocols/kanto/ditto.js';
import { feedbackLog, stepOfFeedback } from '../../src/protocols/kanto/feedback.js';

const example = (name: string) => readFileSync(join(import.meta.dirname, 'examples', name));
const exampleJson = (name: string) => JSON.parse(example(name).toString('utf8'));
const ref = { tenantId: 'tenant-1', deviceId: 'org.eclipse.kanto:exampleDevice' };

describe('Hono topics', () => {
  it('reads per-device event and response topics and nothing else', () => {
    assert.deepEqual(parseCloudTopic('event/tenant-1/org.eclipse.kanto:exampleDevice'), { kind: 'event', ref });
    assert.deepEqual(parseCloudTopic('event/tenant-1/org.eclipse.kanto:exampleDevice/'), { kind: 'event', ref });
    assert.deepEqual(parseCloudTopic('command/tenant-1/org.eclipse.kanto:exampleDevice//res/abc/204'), {
      kind: 'response',
      ref,
      requestId: 'abc',
      status: 204,
    });
    // The update manager API's examples answer on `command//<device>/res//apply`: the envelope carries the status.
    assert.deepEqual(parseCloudTopic('command/tenant-1/org.eclipse.kanto:exampleDevice//res//apply'), {
      kind: 'response',
      ref,
      requestId: '',
      status: undefined,
    });
    for (const bad of [
      'e',
      'event//x',
      'event/t',
      'command/t/d//res/abc/',
      'command/t/d//req/abc/apply',
      'event/t/d/x',
    ]) {
      assert.equal(parseCloudTopic(bad), undefined, bad);
    }
  });

  it('confines an embedded-broker device to its own topics, rewriting Hono short forms', () => {
    const own = 'tenant-1/org.eclipse.kanto:exampleDevice';
    assert.equal(devicePublishTopic('e', ref), `event/${own}`);
    assert.equal(devicePublishTopic('event', ref), `event/${own}`);
    assert.equal(devicePublishTopic(`event/${own}/`, ref), `event/${own}`);
    assert.equal(devicePublishTopic('t', ref), `telemetry/${own}`);
    assert.equal(devicePublishTopic('command///res/0215/204', ref), `command/${own}//res/0215/204`);
    assert.equal(devicePublishTopic(`command/${own}//res/0215/400`, ref), `command/${own}//res/0215/400`);
    assert.equal(
      devicePublishTopic('command//org.eclipse.kanto:exampleDevice/res//apply', ref),
      `command/${own}//res//apply`,
    );
    assert.equal(devicePublishTopic('event/tenant-1/org.eclipse.kanto:other', ref), undefined);
    assert.equal(devicePublishTopic('command/tenant-2/org.eclipse.kanto:exampleDevice//res/1/204', ref), undefined);
    assert.equal(devicePublishTopic(`command/${own}//req/1/apply`, ref), undefined, 'devices cannot send commands');
    assert.equal(devicePublishTopic('anything/else', ref), undefined);
  });

  it('rewrites command subscriptions to the device and its commands back to the form it asked for', () => {
    const own = 'command/tenant-1/org.eclipse.kanto:exampleDevice//req/#';
    assert.deepEqual(deviceSubscription('command///req/#', ref), { filter: own, form: 'hono' });
    assert.deepEqual(deviceSubscription(own, ref), { filter: own, form: 'generic' });
    assert.equal(deviceSubscription('#', ref), undefined);
    assert.equal(deviceSubscription('command/+/+//req/#', ref), undefined);
    const topic = commandTopic(ref, '0215', 'apply');
    assert.equal(forwardedCommandTopic(topic, ref, 'hono'), 'command///req/0215/apply');
    assert.equal(forwardedCommandTopic(topic, ref, 'generic'), topic);
    assert.equal(forwardedCommandTopic(topic, { ...ref, deviceId: 'x:y' }, 'hono'), undefined);
  });

  it('matches topic filters as MQTT does', () => {
    assert.ok(topicMatches('event/+/+', 'event/t/d'));
    assert.ok(!topicMatches('event/+/+', 'event/t/d/'));
    assert.ok(topicMatches('event/+/+/', 'event/t/d/'));
    assert.ok(topicMatches('command/+/+/+/res/#', 'command/t/d//res/1/204'));
    assert.ok(!topicMatches('#', '$flotilla/dropped'));
  });

  it('parses embedded-broker usernames <auth-id>@<tenant> as Hono does', () => {
    assert.deepEqual(parseUsername('org.eclipse.kanto:exampleDevice@tenant-1'), {
      authId: 'org.eclipse.kanto:exampleDevice',
      tenant: 'tenant-1',
    });
    assert.deepEqual(parseUsername('ns:a@b@tenant'), { authId: 'ns:a@b', tenant: 'tenant' });
    assert.deepEqual(parseUsername('sensor-0815@DEFAULT'), { authId: 'sensor-0815', tenant: 'DEFAULT' });
    for (const bad of ['', 'nothing', '@tenant', 'has space@tenant', 'ns:dev@', 'ns:d/ev@t', 'ns:dev@t/x', 'a#b@t']) {
      assert.equal(parseUsername(bad), undefined, bad);
    }
    assert.ok(isThingId('org.eclipse.kanto:exampleDevice'));
    assert.ok(!isThingId('ns:a+b') && !isThingId(':x') && !isThingId('ns:') && !isThingId(42));
  });
});

describe('Ditto envelopes', () => {
  it('reads every device-side example as the message it is', () => {
    const kinds: Record<string, string> = {
      'feature-created.event.json': 'feature',
      'current-state.event.json': 'properties',
      'feedback-1-identifying.event.json': 'feedback',
      'feedback-2-identified.event.json': 'feedback',
      'feedback-3-running.event.json': 'feedback',
      'feedback-4-completed.event.json': 'feedback',
      'feedback-incomplete.event.json': 'feedback',
      'feedback-incomplete-no-supported-domain.event.json': 'feedback',
      'apply.response-204.json': 'response',
      'apply.response-400.json': 'response',
      'refresh.response-204.json': 'response',
      'consent.request.event.json': 'consent',
    };
    for (const [file, kind] of Object.entries(kinds)) {
      const message = readDeviceMessage(parseEnvelope(example(file)));
      assert.equal(message.kind, kind, file);
      assert.equal(message.thingId, 'org.eclipse.kanto:exampleDevice');
    }
    const error = readDeviceMessage(parseEnvelope(example('apply.response-400.json')));
    assert.deepEqual(error.kind === 'response' && [error.status, error.error], [
      400,
      'messages:parameter.invalid: desired state is missing',
    ]);
    const state = readDeviceMessage(parseEnvelope(example('current-state.event.json')));
    assert.equal(state.kind === 'properties' && state.properties.inventory?.softwareNodes.length, 4);
  });

  it('builds apply and refresh exactly as the examples show them', () => {
    const apply = exampleJson('apply.request.json');
    const built = commandEnvelope(
      'org.eclipse.kanto:exampleDevice',
      'apply',
      apply.headers['correlation-id'],
      apply.value,
    );
    assert.deepEqual(built, apply);
    const refresh = exampleJson('refresh.request.json');
    assert.deepEqual(
      commandEnvelope('org.eclipse.kanto:exampleDevice', 'refresh', refresh.headers['correlation-id'], refresh.value),
      refresh,
    );
    assert.deepEqual(parseDesiredState(apply.value.desiredState), apply.value.desiredState);
    // The owner's answer to a consent request carries the request's correlation id.
    const request = readDeviceMessage(parseEnvelope(example('consent.request.event.json')));
    assert.equal(request.kind, 'consent');
    const consent = exampleJson('consent-feedback.command.json');
    assert.equal(request.kind === 'consent' && request.correlationId, consent.headers['correlation-id']);
    assert.deepEqual(
      consentAnswerEnvelope('org.eclipse.kanto:exampleDevice', consent.headers['correlation-id'], consent.value),
      consent,
    );
  });

  it('refuses malformed envelopes with the reason', () => {
    const cases: [string, RegExp][] = [
      ['{not json', /not JSON/],
      ['[]', /JSON object/],
      ['{"topic":"nothing","path":"/x"}', /Ditto topic/],
      ['{"topic":"a/b/things/twin/commands/modify"}', /path/],
      ['{"topic":"a/b/things/twin/commands/modify","path":"/x","status":"ok"}', /status/],
    ];
    for (const [payload, reason] of cases) {
      assert.throws(
        () => parseEnvelope(Buffer.from(payload)),
        (e: Error) => e instanceof MalformedMessage && reason.test(e.message),
      );
    }
    const feedback = exampleJson('feedback-3-running.event.json');
    const bad = (mutate: (e: typeof feedback) => void) => {
      const copy = structuredClone(feedback);
      mutate(copy);
      return () => readDeviceMessage(parseEnvelope(Buffer.from(JSON.stringify(copy))));
    };
    assert.throws(
      bad((e) => {
        e.value.timestamp = '1693201148851';
      }),
      /timestamp/,
    );
    assert.throws(
      bad((e) => {
        delete e.value.desiredStateFeedback.status;
      }),
      /status is missing/,
    );
    assert.throws(
      bad((e) => {
        e.value.desiredStateFeedback.actions = {};
      }),
      /actions must be a list/,
    );
    assert.throws(
      bad((e) => {
        e.path = '/features/UpdateManager/outbox/messages/apply';
      }),
      /does not match/,
    );
    assert.throws(
      bad((e) => {
        e.path = '/features/UpdateManager/outbox/feedback';
      }),
      /unknown message path/,
    );
    // Other features of the thing are told apart from malformed messages (ignored, not refused).
    const other = structuredClone(feedback);
    other.path = '/features/Other/outbox/messages/feedback';
    assert.deepEqual(readDeviceMessage(parseEnvelope(Buffer.from(JSON.stringify(other)))), {
      kind: 'other-feature',
      thingId: 'org.eclipse.kanto:exampleDevice',
      feature: 'Other',
    });
    const response = exampleJson('apply.response-204.json');
    delete response.headers['correlation-id'];
    assert.throws(() => readDeviceMessage(parseEnvelope(Buffer.from(JSON.stringify(response)))), /correlation-id/);
  });
});

describe('feedback → deployment status', () => {
  const feedbackOf = (file: string) => {
    const message = readDeviceMessage(parseEnvelope(example(file)));
    if (message.kind !== 'feedback') throw new Error('not feedback');
    return message.feedback;
  };

  it("maps the phases to downloading, installing and success (going back is the domain's onlyForward)", () => {
    assert.deepEqual(stepOfFeedback(feedbackOf('feedback-1-identifying.event.json')), {
      step: 'downloading',
      final: false,
    });
    assert.deepEqual(stepOfFeedback(feedbackOf('feedback-2-identified.event.json')), {
      step: 'downloading',
      final: false,
    });
    const updating = { status: 'RUNNING', actions: [{ component: { id: 'c:x', version: '1' }, status: 'UPDATING' }] };
    assert.deepEqual(stepOfFeedback(updating), { step: 'installing', final: false });
    assert.deepEqual(stepOfFeedback(feedbackOf('feedback-4-completed.event.json')), {
      step: 'success',
      final: true,
    });
  });

  it('ends in failure for INCOMPLETE, IDENTIFICATION_FAILED and the like; refuses unknown statuses', () => {
    for (const file of ['feedback-incomplete.event.json', 'feedback-incomplete-no-supported-domain.event.json']) {
      assert.deepEqual(stepOfFeedback(feedbackOf(file)), { step: 'failure', final: true });
    }
    for (const status of ['IDENTIFICATION_FAILED', 'INCOMPLETE_INCONSISTENT', 'SUPERSEDED']) {
      assert.equal(stepOfFeedback({ status, actions: [] }).step, 'failure');
    }
    assert.throws(() => stepOfFeedback({ status: 'DONE', actions: [] }), MalformedMessage);
    const odd = { status: 'RUNNING', actions: [{ component: { id: 'c:x', version: '1' }, status: 'EXPLODED' }] };
    assert.throws(() => stepOfFeedback(odd), /unknown action status/);
  });

  it('keeps every component action in the log, failures as errors', () => {
    const lines = feedbackLog(feedbackOf('feedback-incomplete.event.json'), new Date('2026-01-01T00:00:00Z'));
    assert.equal(lines.length, 3);
    assert.deepEqual(lines[0], {
      timestamp: '2026-01-01T00:00:00.000Z',
      level: 'error',
      message:
        "kanto: desired state INCOMPLETE: failed to wait for command 'UPDATE' signal: the update process is incompleted",
    });
    assert.equal(lines[1].level, 'error');
    assert.match(lines[1].message, /containers:influxdb 2\.7\.1 DOWNLOAD_FAILURE: failed to pull image/);
    assert.equal(lines[2].level, 'info');
  });
});

describe('current state → inventory', () => {
  it('turns software and hardware nodes into attributes', () => {
    const message = readDeviceMessage(parseEnvelope(example('current-state.event.json')));
    assert.equal(message.kind, 'properties');
    const attributes = Object.fromEntries(
      inventoryOf(message.kind === 'properties' ? message.properties.inventory : undefined, {
        thingId: 'org.eclipse.kanto:exampleDevice',
        deviceType: 'kanto',
        artifactName: 'composite-app-1.0',
        domain: 'device',
      }).map((a) => [a.name, a.value]),
    );
    assert.equal(attributes['kanto.sw.containers:influxdb'], '2.7.1');
    assert.equal(attributes['kanto.sw.containers:influxdb.status'], 'Running');
    assert.equal(attributes['kanto.sw.containers:influxdb.created'], undefined, 'volatile parameters left out');
    assert.equal(attributes['kanto.sw.containers-update-agent.domain'], 'containers');
    assert.deepEqual(attributes['kanto.components'], ['containers:influxdb', 'containers:hello-world']);
    assert.equal(attributes.artifact_name, 'composite-app-1.0');
    assert.equal(attributes.device_type, 'kanto');
  });
});

describe('desired states', () => {
  it('validates the spec example and refuses typos and dangling references', () => {
    const example = exampleJson('apply.request.json').value.desiredState;
    assert.deepEqual(parseDesiredState(example), example);
    const broken = (mutate: (s: typeof example) => void) => {
      const copy = structuredClone(example);
      mutate(copy);
      return () => parseDesiredState(copy);
    };
    assert.throws(
      broken((s) => {
        s.baselines[0].precondition = 'x';
      }),
      /did you mean "preconditions"/,
    );
    assert.throws(
      broken((s) => {
        s.baselines[0].components.push('containers:nope');
      }),
      /is not a "<domain>:<id>"/,
    );
    assert.throws(
      broken((s) => {
        s.domains = [];
      }),
      /non-empty list/,
    );
    assert.throws(
      broken((s) => {
        s.domains[0].components[0].config[0].value = 8086;
      }),
      /value: must be a string/,
    );
    assert.throws(
      broken((s) => {
        s.domains.push(s.domains[0]);
      }),
      /appears twice/,
    );
    assert.throws(
      broken((s) => {
        s.domains[0].components[1].id = 'influxdb';
      }),
      /appears twice/,
    );
    assert.throws(() => parseDesiredState('state'), /JSON object/);
  });

  it('names the artifact after name and version, and wants device types', () => {
    const input = parseNewDesiredState({
      name: 'composite-app',
      version: '1.0',
      device_types_compatible: ['kanto', 'kanto'],
      desired_state: exampleJson('apply.request.json').value.desiredState,
    });
    assert.equal(desiredStateArtifactName(input.name, input.version), 'composite-app-1.0');
    assert.deepEqual(input.deviceTypes, ['kanto']);
    assert.throws(
      () => parseNewDesiredState({ name: 'a b', version: '1', device_types_compatible: ['k'], desired_state: {} }),
      /name:/,
    );
    assert.throws(
      () => parseNewDesiredState({ name: 'a', version: '1', device_types_compatible: [], desired_state: {} }),
      /device_types_compatible/,
    );
  });
});

describe('command tracker', () => {
  const verdict = (answer: { verdict: string }) => answer.verdict;

  it('settles on the answer, refuses replays, unknown ids and other devices', async () => {
    const tracker = new CommandTracker({ timeoutMs: 10_000, attempts: 3 });
    const sent: string[] = [];
    const outcome = tracker.run(ref, 'activity-1', async (id) => {
      sent.push(id);
    });
    assert.equal(sent.length, 1);
    assert.equal(verdict(tracker.answer(sent[0], { ...ref, deviceId: 'x:y' }, 204)), 'wrong-device');
    assert.equal(verdict(tracker.answer('never-sent', ref, 204)), 'unknown');
    assert.deepEqual(tracker.answer(sent[0], ref, 204), { verdict: 'accepted', key: 'activity-1' });
    assert.deepEqual(await outcome, { kind: 'answered', status: 204 });
    assert.equal(verdict(tracker.answer(sent[0], ref, 204)), 'replayed');
    assert.equal(tracker.isWaiting('activity-1'), false);
    tracker.close();
  });

  it('sends again with a new correlation id, then times out', async () => {
    const tracker = new CommandTracker({ timeoutMs: 20, attempts: 3 });
    const sent: string[] = [];
    const outcome = await tracker.run(ref, 'activity-1', async (id) => {
      sent.push(id);
    });
    assert.deepEqual(outcome, { kind: 'timeout', attempts: 3 });
    assert.equal(new Set(sent).size, 3);
    assert.equal(verdict(tracker.answer(sent[0], ref, 204)), 'replayed', 'a late answer is refused');
    assert.equal(tracker.pending, 0);
  });

  it('an answer to an earlier attempt still settles the command', async () => {
    const tracker = new CommandTracker({ timeoutMs: 20, attempts: 5 });
    const sent: string[] = [];
    const outcome = tracker.run(ref, 'activity-1', async (id) => {
      sent.push(id);
      if (sent.length === 2) setImmediate(() => tracker.answer(sent[0], ref, 400, 'bad'));
    });
    assert.deepEqual(await outcome, { kind: 'answered', status: 400, error: 'bad' });
    assert.equal(sent.length, 2);
    tracker.close();
  });

  it('settles without an answer once the device shows it started (nothing is sent again)', async () => {
    const tracker = new CommandTracker({ timeoutMs: 20, attempts: 5 });
    const sent: string[] = [];
    const outcome = tracker.run(ref, 'activity-1', async (id) => {
      sent.push(id);
    });
    assert.equal(tracker.isWaiting('activity-1'), true);
    assert.equal(tracker.started('another-activity'), false);
    assert.equal(tracker.started('activity-1'), true);
    assert.deepEqual(await outcome, { kind: 'started' });
    await new Promise((resolve) => setTimeout(resolve, 60));
    assert.equal(sent.length, 1, 'sent once');
    assert.equal(verdict(tracker.answer(sent[0], ref, 204)), 'replayed', 'a late 204 is a replay');
    assert.equal(tracker.started('activity-1'), false);
    tracker.close();
  });
});

describe('MQTT configuration', () => {
  it('defaults to the embedded broker on 1883; takes a port, off, or an external URL', () => {
    assert.deepEqual([loadConfig({}, {}).mqttPort, loadConfig({}, {}).mqttUrl], [1883, '']);
    assert.equal(loadConfig({}, { FLOTILLA_MQTT_PORT: '0' }).mqttPort, 0);
    assert.equal(loadConfig({ 'mqtt-port': 'off' }, { FLOTILLA_MQTT_PORT: '1884' }).mqttPort, 'off');
    assert.equal(loadConfig({}, { FLOTILLA_MQTT_URL: 'mqtt://127.0.0.1:1883' }).mqttUrl, 'mqtt://127.0.0.1:1883');
    assert.throws(() => loadConfig({ 'mqtt-port': 'many' }, {}), /--mqtt-port/);
    assert.throws(() => loadConfig({}, { FLOTILLA_MQTT_PORT: '-1' }), /FLOTILLA_MQTT_PORT/);
    assert.equal(loadConfig({}, {}).kantoPushInterval, 5);
    assert.equal(loadConfig({}, { FLOTILLA_KANTO_PUSH_INTERVAL: '1' }).kantoPushInterval, 1);
  });
});
