import assert from 'node:assert/strict';
import { test } from 'node:test';
import { linesToKeep, MAX_LOG_LINES, TRUNCATED_MESSAGE } from './log-size.js';

const line = (n: number) => ({ timestamp: `t${n}`, level: 'info', message: `line ${n}` });
const lines = (count: number, from = 0) => Array.from({ length: count }, (_, i) => line(from + i));

test('lines under the maximum are kept whole', () => {
  assert.deepEqual(linesToKeep(0, lines(3)), lines(3));
  assert.deepEqual(linesToKeep(MAX_LOG_LINES - 3, lines(3)), lines(3));
});

test('the line past the maximum becomes one truncation line, and nothing is kept after it', () => {
  const kept = linesToKeep(MAX_LOG_LINES - 2, lines(5));
  assert.deepEqual(kept.slice(0, 2), lines(2));
  assert.equal(kept.length, 3);
  assert.deepEqual(kept[2], { timestamp: 't2', level: 'error', message: TRUNCATED_MESSAGE });
  assert.deepEqual(
    linesToKeep(MAX_LOG_LINES, lines(2)).map((l) => l.message),
    [TRUNCATED_MESSAGE],
  );
  assert.deepEqual(linesToKeep(MAX_LOG_LINES + 1, lines(2)), []);
});
