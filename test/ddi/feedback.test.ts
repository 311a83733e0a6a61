// The DDI feedback table onto Flotilla's deployment statuses, and hawkBit's checks of a feedback body.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  cancellationAcknowledged,
  deploymentEffect,
  levelOf,
  logLine,
  parseFeedback,
} from '../../src/protocols/hawkbit/feedback.js';

const fb = (execution: string, finished = 'none', extra: object = {}) => ({
  status: { execution, result: { finished }, details: [], ...extra },
});

describe('DDI deployment feedback → device deployment status', () => {
  const cases: [string, string, string | undefined, boolean][] = [
    ['closed', 'success', 'success', true],
    ['closed', 'none', 'success', true],
    ['closed', 'failure', 'failure', true],
    ['canceled', 'none', 'failure', true],
    ['rejected', 'none', 'failure', true],
    ['download', 'none', 'downloading', false],
    ['downloaded', 'none', 'downloading', false],
    ['proceeding', 'none', 'installing', false],
    ['scheduled', 'none', undefined, false],
    ['resumed', 'none', undefined, false],
  ];
  for (const [execution, finished, status, closes] of cases) {
    it(`${execution}/${finished} → ${status ?? 'no change'}${closes ? ', closes the action' : ''}`, () => {
      const feedback = parseFeedback(fb(execution, finished));
      assert.deepEqual(deploymentEffect(feedback), status ? { status, closes } : { closes });
    });
  }
});

describe('DDI cancel feedback', () => {
  it('closed/success and canceled acknowledge the cancellation; the rest does not', () => {
    assert.equal(cancellationAcknowledged(parseFeedback(fb('closed', 'success'))), true);
    assert.equal(cancellationAcknowledged(parseFeedback(fb('canceled'))), true);
    assert.equal(cancellationAcknowledged(parseFeedback(fb('closed', 'failure'))), false);
    assert.equal(cancellationAcknowledged(parseFeedback(fb('rejected'))), false);
    assert.equal(cancellationAcknowledged(parseFeedback(fb('proceeding'))), false);
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
  it('is an error when the device reports a failure or a rejection, information otherwise', () => {
    const at = (execution: string, finished: string) => levelOf({ execution, finished, details: [] } as never);
    assert.equal(at('closed', 'failure'), 'error');
    assert.equal(at('rejected', 'none'), 'error');
    assert.equal(at('proceeding', 'none'), 'info');
    assert.equal(at('closed', 'success'), 'info');
  });
});
