import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canTransition, checkInDue, deviceStatusOf, identityAttributes, parseIdentity } from './rules.js';

const statusOf = (fn: () => unknown) => {
  try {
    fn();
    return 0;
  } catch (error) {
    return (error as { status: number }).status;
  }
};

describe('device admission rules', () => {
  it('derives the device status from its auth sets: accepted > preauthorized > pending > rejected > noauth', () => {
    assert.equal(deviceStatusOf(['rejected', 'pending', 'accepted', 'preauthorized']), 'accepted');
    assert.equal(deviceStatusOf(['rejected', 'pending', 'preauthorized']), 'preauthorized');
    assert.equal(deviceStatusOf(['rejected', 'pending']), 'pending');
    assert.equal(deviceStatusOf(['rejected']), 'rejected');
    assert.equal(deviceStatusOf([]), 'noauth');
  });

  it('identifies a device by its identity data with sorted keys, from JSON text or an object', () => {
    const a = parseIdentity('{"sn":"42","mac":"00:11"}', 'ctx');
    const b = parseIdentity({ mac: '00:11', sn: '42' }, 'ctx');
    assert.equal(a.canonical, '{"mac":"00:11","sn":"42"}');
    assert.equal(a.canonical, b.canonical);
    assert.deepEqual(parseIdentity('{"mac":["a","b"]}', 'ctx').identity, { mac: ['a', 'b'] });
    for (const bad of ['mac=1', '{}', '[]', '"x"', '{"mac":1}', '{"mac":{"a":"b"}}', '{"mac":["a",1]}', '{"":"x"}']) {
      assert.equal(
        statusOf(() => parseIdentity(bad, 'ctx')),
        400,
        bad,
      );
    }
  });

  it('never lets identity data write the admission status into inventory', () => {
    assert.deepEqual(identityAttributes({ mac: 'm', status: 'accepted' }), [{ name: 'mac', value: 'm' }]);
  });

  it('allows the auth-set transitions Mender allows, and no others', () => {
    const allowed = [
      ['pending', 'accepted'],
      ['rejected', 'accepted'],
      ['pending', 'rejected'],
      ['accepted', 'rejected'],
      ['accepted', 'pending'],
      ['rejected', 'pending'],
    ];
    for (const from of ['pending', 'accepted', 'rejected', 'preauthorized'] as const) {
      for (const to of ['pending', 'accepted', 'rejected'] as const) {
        if (from === to) continue;
        const expected = allowed.some(([f, t]) => f === from && t === to);
        assert.equal(canTransition(from, to), expected, `${from} -> ${to}`);
      }
    }
  });

  it('records a check-in once a minute and copies it to inventory once a day', () => {
    const t0 = '2026-01-01T00:00:00.000Z';
    assert.deepEqual(checkInDue(null, t0), { record: true, toInventory: true });
    assert.deepEqual(checkInDue(t0, '2026-01-01T00:00:59.999Z'), { record: false, toInventory: false });
    assert.deepEqual(checkInDue(t0, '2026-01-01T00:01:00.000Z'), { record: true, toInventory: false });
    assert.deepEqual(checkInDue(t0, '2026-01-02T00:00:00.001Z'), { record: true, toInventory: true });
  });
});
