import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkJsonDepth, MAX_JSON_DEPTH } from './json-depth.js';

const nested = (depth: number) => Buffer.from(`${'{"a":['.repeat(depth / 2)}1${']}'.repeat(depth / 2)}`);

test('JSON up to the maximum depth passes; one level more is refused', () => {
  assert.doesNotThrow(() => checkJsonDepth(nested(MAX_JSON_DEPTH)));
  assert.throws(() => checkJsonDepth(nested(MAX_JSON_DEPTH + 2)), /deeper than 64/);
});

test('brackets inside strings, escaped quotes included, do not count', () => {
  const text = JSON.stringify({ a: `"\\${'['.repeat(500)}`, b: ['{'.repeat(500)] });
  assert.doesNotThrow(() => checkJsonDepth(Buffer.from(text)));
});
