import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readRange } from './byte-range.js';

describe('readRange', () => {
  const cases: [string | undefined, number, ReturnType<typeof readRange>][] = [
    [undefined, 10, 'whole'],
    ['', 10, 'whole'],
    ['bytes=0-9', 10, { start: 0, end: 9 }],
    ['bytes=2-4', 10, { start: 2, end: 4 }],
    [' bytes=2-4 ', 10, { start: 2, end: 4 }],
    ['bytes=5-', 10, { start: 5, end: 9 }],
    ['bytes=5-100', 10, { start: 5, end: 9 }],
    ['bytes=-3', 10, { start: 7, end: 9 }],
    ['bytes=-30', 10, { start: 0, end: 9 }],
    ['bytes=-0', 10, 'unsatisfiable'],
    ['bytes=-5', 0, 'unsatisfiable'],
    ['bytes=0-', 0, 'unsatisfiable'],
    ['bytes=10-', 10, 'unsatisfiable'],
    ['bytes=4-2', 10, 'unsatisfiable'],
    ['bytes=99999999999999999999-', 10, 'unsatisfiable'],
    ['bytes=-', 10, 'malformed'],
    ['bytes=0-1,4-5', 10, 'malformed'],
    ['bytes=a-b', 10, 'malformed'],
    ['items=0-1', 10, 'malformed'],
    ['bytes=+1-2', 10, 'malformed'],
  ];
  for (const [header, size, expected] of cases) {
    it(`${JSON.stringify(header)} of ${size} bytes is ${JSON.stringify(expected)}`, () => {
      assert.deepEqual(readRange(header, size), expected);
    });
  }
});
