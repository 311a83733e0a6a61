// io.mender.Update1.SetUpdateControlMap on a private dbus-daemon, called the way device applications call the Mender
// client: with dbus-send and gdbus.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { settle } from '../../../src/agent/control/clock.js';
import {
  ManualClock,
  type PauseStatus,
  serveUpdateControlDBus,
  UpdateControl,
} from '../../../src/agent/control/index.js';
import { dbusSendSetMap, gdbusSetMap, hasCommand, type PrivateBus, runOnBus, startPrivateBus } from './private-bus.js';

const app = '01234567-89ab-cdef-0123-456789abcdef';
const missing = ['dbus-daemon', 'dbus-send', 'gdbus'].filter((command) => !hasCommand(command));
const skip = missing.length > 0 ? `not installed: ${missing.join(', ')}` : false;

describe('D-Bus io.mender.Update1 on a private bus', { skip }, () => {
  let bus: PrivateBus;
  let clock: ManualClock;
  let control: UpdateControl;
  let service: Awaited<ReturnType<typeof serveUpdateControlDBus>>;
  const logged: string[] = [];
  let closed = false;

  before(async () => {
    bus = await startPrivateBus();
    clock = new ManualClock();
    control = new UpdateControl({ pollIntervalSeconds: 30, clock });
    service = await serveUpdateControlDBus(control, { bus: { address: bus.address }, log: (m) => logged.push(m) });
  });

  after(async () => {
    if (!closed) await service?.close();
    control?.close();
    await bus?.stop();
  });

  it('owns io.mender.UpdateManager', () => {
    assert.equal(service.primaryOwner, true);
  });

  it('introspects like the Mender client: SetUpdateControlMap(in s update_control_map, out i refresh_timeout)', async () => {
    const result = await runOnBus(bus, 'gdbus', [
      'introspect',
      '--address',
      bus.address,
      '--dest',
      'io.mender.UpdateManager',
      '--object-path',
      '/io/mender/UpdateManager',
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /interface io\.mender\.Update1 \{/);
    assert.match(result.stdout, /SetUpdateControlMap\(in\s+s update_control_map,\s+out i refresh_timeout\)/);
  });

  it('dbus-send sets a map and gets the refresh time as int32', async () => {
    const map = { id: app, priority: 2, states: { ArtifactInstall_Enter: { action: 'pause' } } };
    const result = await dbusSendSetMap(bus, JSON.stringify(map));
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^\s+int32 30$/m);
    assert.deepEqual(
      control.maps().map((m) => [m.id, m.priority, m.states.ArtifactInstall_Enter]),
      [[app, 2, { action: 'pause', on_map_expire: 'fail', on_action_executed: 'pause' }]],
    );
    assert.equal(control.decide('ArtifactInstall_Enter'), 'pause');
  });

  it('gdbus call sets a map too and gets (30,)', async () => {
    const map = { id: app, priority: 2, states: { ArtifactCommit_Enter: { action: 'fail' } } };
    const result = await gdbusSetMap(bus, JSON.stringify(map));
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.trim(), '(30,)');
    assert.equal(control.decide('ArtifactCommit_Enter'), 'fail');
    assert.equal(control.decide('ArtifactInstall_Enter'), 'continue', 'the same id and priority was replaced');
  });

  for (const [what, json] of [
    ['invalid JSON', '{"id":'],
    ['an id that is not a UUID', '{"id":"app-1","states":{"ArtifactInstall_Enter":{"action":"pause"}}}'],
    ['a priority out of range', `{"id":"${app}","priority":-11,"states":{}}`],
    ['an unknown state', `{"id":"${app}","states":{"Download_Enter":{"action":"pause"}}}`],
    ['an unknown field', `{"id":"${app}","states":{},"expires":"never"}`],
  ] as const) {
    it(`refuses ${what} with io.mender.Failed and changes nothing`, async () => {
      const before = control.maps();
      const result = await dbusSendSetMap(bus, json);
      assert.notEqual(result.code, 0);
      assert.match(result.stderr, /Error io\.mender\.Failed: /);
      assert.deepEqual(control.maps(), before);
    });
  }

  it('refuses a call with the wrong signature', async () => {
    const before = control.maps();
    const result = await dbusSendSetMap(bus, '42', 'int32');
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /Error /);
    assert.deepEqual(control.maps(), before);
  });

  it('a map with empty states deletes that id and priority', async () => {
    control.set({ id: app, priority: 0, states: { ArtifactInstall_Enter: { action: 'pause' } } }, 'local');
    const result = await dbusSendSetMap(bus, JSON.stringify({ id: app, priority: 2, states: {} }));
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(
      control.maps().map((m) => m.priority),
      [0],
    );
  });

  it('a paused control point continues when an application sends continue over D-Bus', async () => {
    control.set({ id: app, priority: 0, states: { ArtifactReboot_Enter: { action: 'pause' } } }, 'local');
    const reports: PauseStatus[] = [];
    const outcome = control.waitUntilDecided('ArtifactReboot_Enter', { onPause: (s) => void reports.push(s) });
    for (let i = 0; i < 100 && reports.length === 0; i++) await settle(1);
    assert.deepEqual(reports, ['pause_before_rebooting']);
    const json = JSON.stringify({ id: app, states: { ArtifactReboot_Enter: { action: 'continue' } } });
    const result = await dbusSendSetMap(bus, json);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(await outcome, { action: 'continue' });
  });

  it('a map set over D-Bus expires when not refreshed within twice the refresh time', async () => {
    const json = JSON.stringify({ id: app, priority: 1, states: { ArtifactCommit_Enter: { action: 'pause' } } });
    assert.equal((await dbusSendSetMap(bus, json)).code, 0);
    await clock.advance(29_000);
    assert.equal(control.decide('ArtifactCommit_Enter'), 'pause');
    assert.equal((await gdbusSetMap(bus, json)).code, 0, 'refresh');
    await clock.advance(59_000);
    assert.equal(control.decide('ArtifactCommit_Enter'), 'pause', '59 s after the refresh');
    await clock.advance(1_000);
    assert.equal(control.decide('ArtifactCommit_Enter'), 'fail', 'on_map_expire of a pause defaults to fail');
  });

  it('a newer instance takes the name over; the old one gets it back, and close releases it', async () => {
    const second = new UpdateControl({ pollIntervalSeconds: 30, clock });
    const other = await serveUpdateControlDBus(second, { bus: { address: bus.address } });
    // REPLACE_EXISTING against ALLOW_REPLACEMENT, as two Mender clients would do: the newest owns the name.
    assert.equal(other.primaryOwner, true);
    const json = JSON.stringify({ id: app, priority: 3, states: { ArtifactInstall_Enter: { action: 'fail' } } });
    assert.equal((await dbusSendSetMap(bus, json)).code, 0);
    assert.equal(second.decide('ArtifactInstall_Enter'), 'fail');
    await other.close();
    second.close();
    assert.equal((await dbusSendSetMap(bus, json)).code, 0, 'the first instance was queued and owns it again');
    assert.ok(control.maps().some((m) => m.priority === 3));
    await service.close();
    closed = true;
    const result = await dbusSendSetMap(bus, json);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /ServiceUnknown|NameHasNoOwner/);
  });
});
