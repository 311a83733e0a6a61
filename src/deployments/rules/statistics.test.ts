import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  deploymentStatus,
  emptyStatistics,
  finishedCount,
  moveStatistic,
  type Statistics,
  statisticsOf,
} from './statistics.js';
import { deviceDeploymentStatuses } from './status.js';

const now = new Date('2024-05-01T12:00:00Z');
const stats = (counts: Partial<Statistics>): Statistics => ({ ...emptyStatistics(), ...counts });

describe('statistics', () => {
  it('has a zero for every status, pause_before_* and decommissioned included', () => {
    const empty = emptyStatistics();
    assert.deepEqual(Object.keys(empty).sort(), [...deviceDeploymentStatuses].sort());
    assert.ok(Object.values(empty).every((n) => n === 0));
    for (const key of ['pause_before_installing', 'pause_before_rebooting', 'pause_before_committing']) {
      assert.ok(key in empty);
    }
  });

  it('counts grouped rows and ignores unknown statuses', () => {
    const counted = statisticsOf([
      { status: 'success', count: 3 },
      { status: 'pending', count: 1 },
      { status: 'success', count: 2 },
      { status: 'bogus', count: 9 },
    ]);
    assert.deepEqual(counted, stats({ success: 5, pending: 1 }));
  });

  it('moves a device between statuses without touching the input', () => {
    const before = stats({ pending: 2 });
    const after = moveStatistic(before, 'pending', 'downloading');
    assert.deepEqual(after, stats({ pending: 1, downloading: 1 }));
    assert.deepEqual(before, stats({ pending: 2 }));
    assert.deepEqual(moveStatistic(after, undefined, 'pending'), stats({ pending: 2, downloading: 1 }));
    assert.equal(moveStatistic(after, 'downloading', 'downloading'), after);
  });

  it('counts every terminal status as finished', () => {
    const all = stats({
      success: 1,
      failure: 1,
      'already-installed': 1,
      noartifact: 1,
      aborted: 1,
      decommissioned: 1,
      pending: 7,
      installing: 7,
    });
    assert.equal(finishedCount(all), 6);
  });
});

describe('deployment status', () => {
  it('is pending while every device is pending (asking for /next changes nothing)', () => {
    assert.equal(deploymentStatus({ stats: stats({ pending: 10 }), maxDevices: 10, now }), 'pending');
    assert.equal(deploymentStatus({ stats: emptyStatistics(), now }), 'pending');
  });

  it('is inprogress as soon as one device leaves pending, finished ones included', () => {
    for (const status of [
      'downloading',
      'installing',
      'rebooting',
      'success',
      'already-installed',
      'failure',
      'aborted',
      'noartifact',
      'pause_before_installing',
      'pause_before_committing',
      'pause_before_rebooting',
    ] as const) {
      assert.equal(deploymentStatus({ stats: stats({ pending: 9, [status]: 1 }), maxDevices: 10, now }), 'inprogress');
    }
  });

  it('stays pending when the only change is a decommissioned device, as in Mender', () => {
    assert.equal(deploymentStatus({ stats: stats({ pending: 1, decommissioned: 1 }), maxDevices: 2, now }), 'pending');
  });

  it('finishes when max_devices devices finished, or when it has a finished time', () => {
    assert.equal(deploymentStatus({ stats: stats({ success: 5, failure: 5 }), maxDevices: 10, now }), 'finished');
    assert.equal(
      deploymentStatus({ stats: stats({ success: 5, failure: 4, installing: 1 }), maxDevices: 10, now }),
      'inprogress',
    );
    assert.equal(
      deploymentStatus({ stats: stats({ pending: 3 }), maxDevices: 3, finishedAt: '2024-05-01T11:00:00Z', now }),
      'finished',
    );
  });

  it('never finishes by itself without max_devices (a dynamic deployment)', () => {
    assert.equal(deploymentStatus({ stats: stats({ success: 500 }), now }), 'inprogress');
    assert.equal(deploymentStatus({ stats: stats({ success: 500 }), maxDevices: 0, now }), 'inprogress');
  });

  it('is scheduled while pending and its first phase starts later', () => {
    const later = '2024-05-02T00:00:00Z';
    assert.equal(deploymentStatus({ stats: stats({ pending: 0 }), firstPhaseStart: later, now }), 'scheduled');
    assert.equal(
      deploymentStatus({ stats: emptyStatistics(), firstPhaseStart: '2024-05-01T12:00:00Z', now }),
      'pending',
    );
    assert.equal(deploymentStatus({ stats: stats({ success: 1 }), firstPhaseStart: later, now }), 'inprogress');
  });
});
