// The configuration rules without I/O: string values only, Mender's limits counted in characters (as Go's
// validator counts runes), and the Go type names Mender's messages use.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { configurationOf, MAX_KEYS, MAX_LENGTH } from './rules.js';

describe('configurationOf', () => {
  test('takes a flat map of strings, empty values included', () => {
    assert.deepEqual(configurationOf({ a: 'x', b: '' }), { a: 'x', b: '' });
    assert.deepEqual(configurationOf({}), {});
  });

  test("names the Go type Mender's server would have decoded", () => {
    const cases: [unknown, string][] = [
      [1.5, 'float64'],
      [true, 'bool'],
      [null, '<nil>'],
      [['x'], '[]interface {}'],
      [{ value: 'x' }, 'map[string]interface {}'],
    ];
    for (const [value, type] of cases) {
      assert.throws(() => configurationOf({ k: value }), { status: 400, message: `k: value: invalid type: ${type}.` });
    }
  });

  test('limits count characters, not bytes', () => {
    const euro = '€'.repeat(MAX_LENGTH);
    assert.deepEqual(configurationOf({ [euro]: euro }), { [euro]: euro });
    assert.throws(() => configurationOf({ k: `${euro}€` }), { status: 400 });
    assert.throws(() => configurationOf({ [`${euro}€`]: 'v' }), { status: 400 });
  });

  test('at most 100 keys; not an object is refused', () => {
    const keys = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 'v']));
    assert.equal(Object.keys(configurationOf(keys(MAX_KEYS))).length, MAX_KEYS);
    assert.throws(() => configurationOf(keys(MAX_KEYS + 1)), /too many configuration attributes, maximum is 100/);
    for (const body of [null, [], 'x', 3]) assert.throws(() => configurationOf(body), { status: 400 });
  });
});
