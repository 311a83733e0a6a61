// The deployment handling rules: hawkBit's download/update handling per action type, time-forced switching at its
// time, maintenance windows open and shut by their Quartz schedule and UTC offset, and the creation body's checks.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { handlingAt, handlingJson, handlingOf, storedHandling, windowOpen } from './handling.js';

const at = (iso: string) => new Date(iso);
const NOW = at('2026-03-02T10:00:00Z');

describe('deployment handling', () => {
  it('forced, soft, download-only: hawkBit download/update handling', () => {
    assert.deepEqual(handlingAt(handlingOf({}, NOW), NOW), { download: 'forced', update: 'forced' });
    assert.deepEqual(handlingAt(handlingOf({ action_type: 'soft' }, NOW), NOW), {
      download: 'attempt',
      update: 'attempt',
    });
    assert.deepEqual(handlingAt(handlingOf({ action_type: 'downloadonly' }, NOW), NOW), {
      download: 'forced',
      update: 'skip',
    });
  });

  it('time-forced is soft until its time, then forced', () => {
    const h = handlingOf({ action_type: 'timeforced', force_time: '2026-03-02T12:00:00+01:00' }, NOW);
    assert.equal(h.forceTime, '2026-03-02T11:00:00.000Z');
    assert.deepEqual(handlingAt(h, at('2026-03-02T10:59:59Z')), { download: 'attempt', update: 'attempt' });
    assert.deepEqual(handlingAt(h, at('2026-03-02T11:00:00Z')), { download: 'forced', update: 'forced' });
  });

  it('a maintenance window: update skip while unavailable, the action type inside it', () => {
    // Every day 02:00 local at +02:00 (00:00 UTC), open for one hour.
    const maintenance_window = { schedule: '0 0 2 ? * *', duration: '01:00:00', timezone: '+02:00' };
    const h = handlingOf({ action_type: 'soft', maintenance_window }, NOW);
    assert.deepEqual(handlingAt(h, at('2026-03-02T23:59:59Z')), {
      download: 'attempt',
      update: 'skip',
      maintenanceWindow: 'unavailable',
    });
    assert.deepEqual(handlingAt(h, at('2026-03-03T00:00:00Z')), {
      download: 'attempt',
      update: 'attempt',
      maintenanceWindow: 'available',
    });
    assert.equal(windowOpen(h.maintenanceWindow!, at('2026-03-03T00:59:59Z')), true);
    assert.equal(windowOpen(h.maintenanceWindow!, at('2026-03-03T01:00:01Z')), false);
    // Forced inside a window is forced; outside it, the update still waits.
    const forced = handlingOf({ maintenance_window }, NOW);
    assert.deepEqual(handlingAt(forced, at('2026-03-03T00:30:00Z')).update, 'forced');
    assert.deepEqual(handlingAt(forced, at('2026-03-03T03:00:00Z')).update, 'skip');
  });

  it('Quartz weekdays: 2 is Monday', () => {
    const w = { schedule: '0 0 9 ? * 2', duration: '00:30:00', timezone: 'Z' };
    assert.equal(windowOpen(w, at('2026-03-02T09:10:00Z')), true); // a Monday
    assert.equal(windowOpen(w, at('2026-03-03T09:10:00Z')), false);
  });

  it('stores nothing for the default and reads it back', () => {
    assert.equal(handlingJson(handlingOf({}, NOW)), null);
    assert.deepEqual(storedHandling(null), { type: 'forced' });
    const h = handlingOf({ action_type: 'downloadonly' }, NOW);
    assert.deepEqual(storedHandling(handlingJson(h)), h);
  });

  const bad: [string, object][] = [
    ['an unknown action type', { action_type: 'eventually' }],
    ['time-forced without a time', { action_type: 'timeforced' }],
    ['time-forced with a bad time', { action_type: 'timeforced', force_time: 'soon' }],
    ['a force time on a forced deployment', { force_time: '2026-03-02T12:00:00Z' }],
    ['a window that is not an object', { maintenance_window: 'nightly' }],
    ['a window without duration', { maintenance_window: { schedule: '0 0 2 ? * *', timezone: 'Z' } }],
    ['a five-field schedule', { maintenance_window: { schedule: '0 2 * * *', duration: '01:00:00', timezone: 'Z' } }],
    ['a broken schedule', { maintenance_window: { schedule: '0 0 99 ? * *', duration: '01:00:00', timezone: 'Z' } }],
    ['a bad duration', { maintenance_window: { schedule: '0 0 2 ? * *', duration: '1h', timezone: 'Z' } }],
    ['a zero duration', { maintenance_window: { schedule: '0 0 2 ? * *', duration: '00:00:00', timezone: 'Z' } }],
    [
      'an oversized schedule',
      { maintenance_window: { schedule: `0 0 2 ? * ${'1,'.repeat(100)}1`, duration: '01:00:00', timezone: 'Z' } },
    ],
    ['a named timezone', { maintenance_window: { schedule: '0 0 2 ? * *', duration: '01:00:00', timezone: 'CET' } }],
    [
      'a schedule that never opens again',
      { maintenance_window: { schedule: '0 0 2 1 1 ? 2020', duration: '01:00:00', timezone: 'Z' } },
    ],
  ];
  for (const [name, body] of bad)
    it(`refuses ${name} with a 400`, () => {
      assert.throws(
        () => handlingOf(body, NOW),
        (error: { status?: number }) => error.status === 400,
      );
    });
});
