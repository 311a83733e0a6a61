import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { reportableStatuses } from '../../deployments/rules/status.js';
import { Invalid } from '../../errors.js';
import { parseStatusReport } from './status-report.js';

function throwsWith(fn: () => unknown, type: typeof Invalid, message: string) {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof type, `expected ${type.name}, got ${String(error)}`);
    assert.equal((error as Error).message, message);
    return true;
  });
}

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
