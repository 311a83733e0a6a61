// The DDI feedback table onto Flotilla's deployment statuses, and hawkBit's checks of a feedback body.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  cancelEffect,
  deploymentEffect,
  levelOf,
  logLine,
  parseFeedback,
} from '../../src/protocols/hawkbit/feedback.js';

const fb = (execution: string, finished = 'none', extra: object = {}) => ({
  status: { execution, result: { finished }, details: [], ...extra },
});

describe('DDI deployment feedback → what it does to the attempt', () => {
  const cases: [string, string, object][] = [
    ['closed', 'success', { kind: 'end', outcome: 'success' }],
    // The spec: NONE "will not be interpreted by the update server and handled like SUCCESS".
    ['closed', 'none', { kind: 'end', outcome: 'success' }],
    ['closed', 'failure', { kind: 'end', outcome: 'failure' }],
    // CANCELED is the target's cancellation (hawkBit: CANCELED), never a failure.
    ['canceled', 'none', { kind: 'canceled' }],
    ['canceled', 'failure', { kind: 'canceled' }],
    // REJECTED is a warning (hawkBit: WARNING): it changes nothing.
    ['rejected', 'none', { kind: 'log' }],
    ['download', 'none', { kind: 'step', step: 'downloading' }],
    ['downloaded', 'none', { kind: 'downloaded' }],
    ['proceeding', 'none', { kind: 'step', step: 'installing' }],
    ['scheduled', 'none', { kind: 'log' }],
    ['resumed', 'none', { kind: 'log' }],
  ];
  for (const [execution, finished, effect] of cases) {
    it(`${execution}/${finished} → ${JSON.stringify(effect)}`, () => {
      assert.deepEqual(deploymentEffect(parseFeedback(fb(execution, finished))), effect);
    });
  }
});

describe('DDI cancel feedback', () => {
  it('closed/success|none and canceled acknowledge; rejected and closed/failure refuse (hawkBit: back to RUNNING)', () => {
    assert.equal(cancelEffect(parseFeedback(fb('closed', 'success'))), 'acknowledged');
    assert.equal(cancelEffect(parseFeedback(fb('closed', 'none'))), 'acknowledged');
    assert.equal(cancelEffect(parseFeedback(fb('canceled'))), 'acknowledged');
    assert.equal(cancelEffect(parseFeedback(fb('closed', 'failure'))), 'refused');
    assert.equal(cancelEffect(parseFeedback(fb('rejected'))), 'refused');
    assert.equal(cancelEffect(parseFeedback(fb('proceeding'))), 'log');
  });
});

describe('DDI feedback body', () => {
  it('takes the execution and result case-insensitively, with progress and details', () => {
    const feedback = parseFeedback({
      id: '3',
      time: '20260101T120000',
      status: {
        execution: 'PROCEEDING',
        result: { finished: 'NONE', progress: { cnt: 2, of: 5 } },
        details: ['a', 'b'],
      },
    });
    assert.deepEqual(feedback, {
      execution: 'proceeding',
      finished: 'none',
      progress: { cnt: 2, of: 5 },
      details: ['a', 'b'],
      time: '20260101T120000',
    });
    assert.equal(logLine('deployment', feedback), 'ddi deployment feedback proceeding/none 2/5: a | b');
    const long = logLine('cancel', parseFeedback(fb('closed', 'success', { details: ['x'.repeat(10_000)] })));
    assert.equal(long.length, 4001);
    assert.ok(long.startsWith('ddi cancel feedback closed/success: xxx'));
  });

  const bad: [string, unknown][] = [
    ['no body', null],
    ['an array', []],
    ['no status', {}],
    ['unknown execution', fb('installing')],
    ['execution not a string', { status: { execution: 3, result: { finished: 'none' } } }],
    ['no result', { status: { execution: 'closed' } }],
    ['unknown finished', fb('closed', 'maybe')],
    ['details not strings', { status: { execution: 'closed', result: { finished: 'success' }, details: [1] } }],
    ['details not a list', { status: { execution: 'closed', result: { finished: 'success' }, details: 'x' } }],
    ['progress without cnt', { status: { execution: 'proceeding', result: { finished: 'none', progress: {} } } }],
    ['time not a string', { time: 5, ...fb('closed', 'success') }],
  ];
  for (const [name, body] of bad) {
    it(`refuses ${name} with a 400`, () => {
      assert.throws(
        () => parseFeedback(body),
        (error: { status?: number }) => error.status === 400,
      );
    });
  }
});

describe('DDI feedback in the deployment log', () => {
  it('is an error when the device reports a failure, a warning for a rejection, information otherwise', () => {
    const at = (execution: string, finished: string) => levelOf({ execution, finished, details: [] } as never);
    assert.equal(at('closed', 'failure'), 'error');
    assert.equal(at('rejected', 'none'), 'warning');
    assert.equal(at('proceeding', 'none'), 'info');
    assert.equal(at('closed', 'success'), 'info');
  });
});
