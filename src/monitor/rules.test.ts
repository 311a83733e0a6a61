// The monitor's request rules without I/O: RFC 3339 times normalised to UTC, the alert's required fields and
// details, the check list's subsystem objects.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { alertsOf, checksOf, timeOf } from './rules.js';

const alert = {
  name: 'n',
  level: 'CRITICAL',
  timestamp: '2026-01-01T10:00:00+02:00',
  subject: { name: 's', type: 't', status: 'st' },
};

describe('monitor rules', () => {
  test('times: RFC 3339 with an offset or Z, normalised to UTC; anything else refused', () => {
    assert.equal(timeOf('2026-01-01T10:00:00+02:00', 'x'), '2026-01-01T08:00:00.000Z');
    assert.equal(timeOf('2026-01-01t10:00:00.5z', 'x'), '2026-01-01T10:00:00.500Z');
    for (const bad of ['2026-01-01', '2026-01-01T10:00:00', '2026-13-01T10:00:00Z', 1767261600, 'now']) {
      assert.throws(() => timeOf(bad, 'issued_before'), { status: 400, message: /issued_before: must be an RFC 3339/ });
    }
  });

  test('alerts keep what the wire shape has and drop what it does not', () => {
    const [parsed] = alertsOf([{ ...alert, extra: 1, subject: { ...alert.subject, details: { description: 'd' } } }]);
    assert.deepEqual(parsed, {
      name: 'n',
      level: 'CRITICAL',
      timestamp: '2026-01-01T08:00:00.000Z',
      subject: { name: 's', type: 't', status: 'st', details: { description: 'd' } },
    });
  });

  test('one bad alert refuses the request, naming where', () => {
    assert.throws(() => alertsOf([alert, { ...alert, subject: { ...alert.subject, name: '' } }]), {
      message: '[1].subject.name: cannot be blank',
    });
    assert.throws(
      () =>
        alertsOf([
          {
            ...alert,
            subject: { ...alert.subject, details: { lines_before: Array(101).fill({ line_number: 1, data: '' }) } },
          },
        ]),
      /at most 100 lines/,
    );
  });

  test('checks: name, status and type required; subsystem settings must be objects', () => {
    assert.deepEqual(checksOf([{ name: 'a', status: 'b', type: 'log', log: { path: 'p', pattern: 'x' }, other: 1 }]), [
      { name: 'a', status: 'b', type: 'log', log: { path: 'p', pattern: 'x' } },
    ]);
    assert.throws(() => checksOf([{ name: 'a', status: 'b', type: 'log', log: [] }]), /log: must be an object/);
    assert.throws(() => checksOf({}), { status: 400 });
  });
});
