import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Conflict, Invalid } from '../../errors.js';
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
  parseStatusReport,
  reportableStatuses,
} from './status.js';

function throwsWith(fn: () => unknown, type: typeof Invalid | typeof Conflict, message: string) {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof type, `expected ${type.name}, got ${String(error)}`);
    assert.equal((error as Error).message, message);
    return true;
  });
}

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

describe('parsing a status report', () => {
  it('accepts every status a device may report, with or without a substate', () => {
    for (const status of reportableStatuses) assert.deepEqual(parseStatusReport({ status }), { status });
    assert.deepEqual(parseStatusReport({ status: 'installing', substate: 'flashing' }), {
      status: 'installing',
      substate: 'flashing',
    });
    assert.deepEqual(parseStatusReport({ status: 'installing', substate: '' }), { status: 'installing' });
  });

  it('answers 400 with Mender words for an unknown status name', () => {
    throwsWith(() => parseStatusReport({ status: 'foo' }), Invalid, "invalid status for device 'foo'");
  });

  it('refuses statuses only the server sets', () => {
    for (const status of ['pending', 'noartifact', 'aborted', 'decommissioned']) {
      throwsWith(() => parseStatusReport({ status }), Invalid, 'status: must be a valid value.');
    }
  });

  it('refuses a substate longer than 200 bytes, counting bytes not characters', () => {
    assert.doesNotThrow(() => parseStatusReport({ status: 'installing', substate: 'x'.repeat(200) }));
    throwsWith(
      () => parseStatusReport({ status: 'installing', substate: 'x'.repeat(201) }),
      Invalid,
      'substate: the length must be no more than 200.',
    );
    throwsWith(
      () => parseStatusReport({ status: 'installing', substate: 'é'.repeat(101) }),
      Invalid,
      'substate: the length must be no more than 200.',
    );
  });

  it('lists every problem at once, sorted by field, and refuses a missing status', () => {
    throwsWith(
      () => parseStatusReport({ status: 'pending', substate: 'x'.repeat(300) }),
      Invalid,
      'status: must be a valid value; substate: the length must be no more than 200.',
    );
    throwsWith(() => parseStatusReport({}), Invalid, 'status: cannot be blank.');
    throwsWith(() => parseStatusReport({ status: 3 }), Invalid, 'status: must be a valid value.');
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
