import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  activeStatuses,
  applyStatusReport,
  type DeviceDeploymentStatus,
  deviceDeploymentStatuses,
  finishedStatuses,
  isActive,
  isFinished,
  isPaused,
  mayRetry,
  reportableStatuses,
} from './status.js';

describe('device deployment statuses', () => {
  it('splits the thirteen statuses into seven active and six finished, with no overlap', () => {
    assert.equal(deviceDeploymentStatuses.length, 13);
    assert.deepEqual([...activeStatuses, ...finishedStatuses].sort(), [...deviceDeploymentStatuses].sort());
    for (const status of deviceDeploymentStatuses) assert.notEqual(isActive(status), isFinished(status), status);
    assert.ok(isActive('pause_before_committing'));
    assert.ok(isFinished('already-installed'));
    assert.ok(isFinished('decommissioned'));
    assert.ok(!isActive('noartifact'));
  });

  it('knows the three pause statuses', () => {
    const paused = deviceDeploymentStatuses.filter(isPaused);
    assert.deepEqual(paused.sort(), ['pause_before_committing', 'pause_before_installing', 'pause_before_rebooting']);
  });
});

describe('applying a status report', () => {
  const at = (status: DeviceDeploymentStatus, attempts = 1) => ({ status, attempts });

  it('answers 409 once the device deployment is aborted or the device decommissioned, whatever is reported', () => {
    for (const status of reportableStatuses) {
      assert.deepEqual(applyStatusReport(at('aborted'), { status }, 3), { kind: 'refused', reason: 'aborted' });
      assert.deepEqual(applyStatusReport(at('decommissioned'), { status }, 3), {
        kind: 'refused',
        reason: 'decommissioned',
      });
    }
  });

  it('ignores a repeat of the current status, substate included', () => {
    assert.deepEqual(applyStatusReport(at('installing'), { status: 'installing', substate: 'new' }, 0), {
      kind: 'unchanged',
    });
    assert.deepEqual(applyStatusReport(at('success'), { status: 'success' }, 0), { kind: 'unchanged' });
  });

  it('accepts any other report from any status, like Mender, and marks start and finish', () => {
    const sources = deviceDeploymentStatuses.filter((s) => s !== 'aborted' && s !== 'decommissioned');
    for (const from of sources) {
      for (const to of reportableStatuses) {
        if (from === to) continue;
        const outcome = applyStatusReport(at(from), { status: to }, 0);
        // A step reported for a finished attempt never reopens it (issue 18; Mender's server would).
        if (isFinished(from) && !isFinished(to)) {
          assert.deepEqual(outcome, { kind: 'unchanged' }, `${from} → ${to}`);
          continue;
        }
        assert.equal(outcome.kind, 'changed', `${from} → ${to}`);
        if (outcome.kind !== 'changed') continue;
        assert.equal(outcome.from, from);
        assert.equal(outcome.to, to);
        assert.equal(outcome.finished, isFinished(to));
        assert.equal(outcome.started, from === 'pending');
      }
    }
  });

  it('walks backwards too, keeping the substate unless a new one is sent', () => {
    const back = applyStatusReport(at('installing'), { status: 'downloading' }, 0);
    assert.deepEqual(back, { kind: 'changed', from: 'installing', to: 'downloading', finished: false, started: false });
    const withSubstate = applyStatusReport(at('downloading'), { status: 'rebooting', substate: 'bar' }, 0);
    assert.equal(withSubstate.kind === 'changed' && withSubstate.substate, 'bar');
  });

  it('sends a failed device back to pending while it has retries left, counting attempts from 1', () => {
    // retries: 3 → attempts 1, 2 and 3 fail into a retry; the 4th failure is final.
    for (const attempts of [1, 2, 3]) {
      assert.deepEqual(applyStatusReport(at('installing', attempts), { status: 'failure', substate: 'boom' }, 3), {
        kind: 'retry',
        from: 'installing',
        to: 'pending',
        attempts: attempts + 1,
        substate: 'boom',
      });
    }
    const final = applyStatusReport(at('installing', 4), { status: 'failure' }, 3);
    assert.equal(final.kind, 'changed');
    assert.equal(final.kind === 'changed' && final.to, 'failure');
    assert.equal(final.kind === 'changed' && final.finished, true);
  });

  it('never retries without retries, nor anything but a failure', () => {
    assert.equal(applyStatusReport(at('installing'), { status: 'failure' }, 0).kind, 'changed');
    assert.equal(applyStatusReport(at('installing'), { status: 'already-installed' }, 5).kind, 'changed');
    assert.equal(applyStatusReport(at('installing'), { status: 'success' }, 5).kind, 'changed');
    assert.equal(mayRetry(1, 0), false);
    assert.equal(mayRetry(1, 1), true);
    assert.equal(mayRetry(2, 1), false);
  });
});
