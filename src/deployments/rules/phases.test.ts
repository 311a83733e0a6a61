import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Invalid } from '../../errors.js';
import {
  admittedPerPhase,
  firstPhaseStart,
  mayReceive,
  type PhaseInput,
  phaseOfPosition,
  phaseToPauseFor,
  planPhases,
} from './phases.js';

const t0 = '2024-05-01T12:00:00Z';
const t1 = '2024-05-01T13:00:00Z';
const t2 = '2024-05-01T14:00:00Z';
const t3 = '2024-05-01T15:00:00Z';

function invalid(phases: PhaseInput[], devices: number, message: string) {
  assert.throws(
    () => planPhases(phases, devices),
    (error: unknown) => error instanceof Invalid && error.message === message,
  );
}

describe('planning phases', () => {
  it('rounds every phase but the last down and gives the last the rest (integration test sizes)', () => {
    const plan = planPhases(
      [{ batch_size: 13 }, { batch_size: 17, start_ts: t1 }, { batch_size: 29, start_ts: t2 }, { start_ts: t3 }],
      101,
    );
    assert.deepEqual(
      plan.map((p) => p.device_count),
      [13, 17, 29, 42],
    );
    assert.deepEqual(
      plan.map((p) => p.batch_size),
      [13, 17, 29, 41],
    );
  });

  it('uses exact integer arithmetic (29% of 100 is 29, not 28)', () => {
    const plan = planPhases([{ batch_size: 29 }, { start_ts: t1 }], 100);
    assert.deepEqual(
      plan.map((p) => p.device_count),
      [29, 71],
    );
  });

  it('fills in the last batch_size, keeps given start times, and needs none on the first phase', () => {
    assert.deepEqual(planPhases([{ batch_size: 10 }, { start_ts: t1 }], 100), [
      { batch_size: 10, device_count: 10 },
      { batch_size: 90, start_ts: t1, device_count: 90 },
    ]);
    assert.deepEqual(planPhases([{}], 7), [{ batch_size: 100, device_count: 7 }]);
    assert.deepEqual(planPhases([{ batch_size: 100, start_ts: t0 }], 3), [
      { batch_size: 100, start_ts: t0, device_count: 3 },
    ]);
    assert.deepEqual(planPhases([], 5), []);
  });

  it('refuses a batch that rounds to zero devices with Mender message, counting batches from 1', () => {
    const phases = [
      { batch_size: 10 },
      { batch_size: 20, start_ts: t1 },
      { batch_size: 5, start_ts: t2 },
      { start_ts: t3 },
    ];
    invalid(phases, 11, 'Attempt to create a batch with zero devices not allowed. Batch: (3) will be empty');
    invalid(
      [{ batch_size: 50 }, { start_ts: t1 }],
      0,
      'Attempt to create a batch with zero devices not allowed. Batch: (1) will be empty',
    );
    invalid(
      [{ batch_size: 100 }, { start_ts: t1 }],
      10,
      'Attempt to create a batch with zero devices not allowed. Batch: (2) will be empty',
    );
  });

  it('refuses batch sizes that are missing, out of range or add up wrong', () => {
    invalid(
      [{ start_ts: t0 }, { start_ts: t1 }],
      10,
      'Invalid phase (1): batch_size is required for all but the last phase',
    );
    invalid(
      [{ batch_size: 0 }, { start_ts: t1 }],
      10,
      'Invalid phase (1): batch_size must be an integer between 1 and 100',
    );
    invalid(
      [{ batch_size: 10.5 }, { start_ts: t1 }],
      10,
      'Invalid phase (1): batch_size must be an integer between 1 and 100',
    );
    invalid([{ batch_size: 101 }], 10, 'Invalid phase (1): batch_size must be an integer between 1 and 100');
    invalid(
      [{ batch_size: 60 }, { batch_size: 50, start_ts: t1 }],
      10,
      'Invalid phases: the sum of batch sizes exceeds 100 percent',
    );
    invalid(
      [{ batch_size: 10 }, { batch_size: 50, start_ts: t1 }],
      10,
      'Invalid phases: the batch sizes must add up to 100 percent when the last phase has one',
    );
  });

  it('refuses missing, invalid or non-increasing start times', () => {
    invalid([{ batch_size: 50 }, {}], 10, 'Invalid phase (2): start_ts is required for all but the first phase');
    invalid(
      [{ batch_size: 50, start_ts: 'soon' }, { start_ts: t1 }],
      10,
      'Invalid phase (1): start_ts is not a valid date-time',
    );
    invalid(
      [{ batch_size: 50, start_ts: t1 }, { start_ts: t1 }],
      10,
      "Invalid phase (2): start_ts must be later than the previous phase's start_ts",
    );
    invalid(
      [{ batch_size: 50, start_ts: t2 }, { start_ts: t1 }],
      10,
      "Invalid phase (2): start_ts must be later than the previous phase's start_ts",
    );
  });

  it('keeps a valid failure_threshold and refuses others', () => {
    const plan = planPhases(
      [
        { batch_size: 50, failure_threshold: 0.1 },
        { start_ts: t1, failure_threshold: 1 },
      ],
      10,
    );
    assert.equal(plan[0].failure_threshold, 0.1);
    assert.equal(plan[1].failure_threshold, 1);
    for (const bad of [0, -0.5, 1.5]) {
      invalid(
        [{ batch_size: 100, failure_threshold: bad }],
        10,
        'Invalid phase (1): failure_threshold must be a fraction greater than 0 and at most 1',
      );
    }
  });

  it('reports the first phase start as the deployment start', () => {
    assert.equal(firstPhaseStart(planPhases([{ batch_size: 50, start_ts: t1 }, { start_ts: t2 }], 10)), t1);
    assert.equal(firstPhaseStart(planPhases([{ batch_size: 50 }, { start_ts: t2 }], 10)), undefined);
    assert.equal(firstPhaseStart([]), undefined);
  });
});

describe('admitting devices into phases', () => {
  const plan = planPhases([{ batch_size: 10 }, { batch_size: 20, start_ts: t1 }, { start_ts: t2 }], 100);

  it('places devices in phases by the order they ask, the last phase taking any overflow', () => {
    assert.equal(phaseOfPosition(plan, 0), 0);
    assert.equal(phaseOfPosition(plan, 9), 0);
    assert.equal(phaseOfPosition(plan, 10), 1);
    assert.equal(phaseOfPosition(plan, 29), 1);
    assert.equal(phaseOfPosition(plan, 30), 2);
    assert.equal(phaseOfPosition(plan, 99), 2);
    assert.equal(phaseOfPosition(plan, 500), 2);
    assert.equal(phaseOfPosition([], 3), 0);
  });

  it('lets a device have the update only once its phase has started', () => {
    const before = new Date('2024-05-01T12:30:00Z');
    assert.equal(mayReceive(plan, 9, before), true);
    assert.equal(mayReceive(plan, 10, before), false);
    assert.equal(mayReceive(plan, 10, new Date(t1)), true);
    assert.equal(mayReceive(plan, 30, new Date(t1)), false);
    assert.equal(mayReceive(plan, 30, new Date(t2)), true);
    assert.equal(mayReceive([], 1000, before), true);
  });

  it('keeps a delayed first phase closed until it starts', () => {
    const delayed = planPhases([{ start_ts: t1 }], 5);
    assert.equal(mayReceive(delayed, 0, new Date(t0)), false);
    assert.equal(mayReceive(delayed, 0, new Date(t1)), true);
  });

  it('reports admitted devices per phase, overflow in the last', () => {
    assert.deepEqual(admittedPerPhase(plan, 0), [0, 0, 0]);
    assert.deepEqual(admittedPerPhase(plan, 7), [7, 0, 0]);
    assert.deepEqual(admittedPerPhase(plan, 10), [10, 0, 0]);
    assert.deepEqual(admittedPerPhase(plan, 25), [10, 15, 0]);
    assert.deepEqual(admittedPerPhase(plan, 130), [10, 20, 100]);
  });
});

describe('pausing on failures', () => {
  const plan = planPhases(
    [
      { batch_size: 10, failure_threshold: 0.1 },
      { batch_size: 90, start_ts: t1, failure_threshold: 0.29 },
    ],
    100,
  );

  it('pauses only when failures exceed the threshold of that phase', () => {
    assert.equal(phaseToPauseFor(plan, [{ failed: 1 }]), undefined);
    assert.equal(phaseToPauseFor(plan, [{ failed: 2 }]), 0);
    assert.equal(phaseToPauseFor(plan, [{ failed: 0 }, { failed: 26 }]), undefined);
    assert.equal(phaseToPauseFor(plan, [{ failed: 0 }, { failed: 27 }]), 1);
  });

  it('compares ratios exactly (29 of 100 does not exceed 0.29)', () => {
    const hundred = planPhases([{ batch_size: 100, failure_threshold: 0.29 }], 100);
    assert.equal(phaseToPauseFor(hundred, [{ failed: 29 }]), undefined);
    assert.equal(phaseToPauseFor(hundred, [{ failed: 30 }]), 0);
  });

  it('uses the admitted count when a last phase grew, and ignores phases without a threshold', () => {
    const grown = planPhases([{ batch_size: 50 }, { start_ts: t1, failure_threshold: 0.5 }], 4);
    // Phase 1 has no threshold, so its two failures do not count; phase 2's two of two do.
    assert.equal(phaseToPauseFor(grown, [{ failed: 2 }, { failed: 2 }]), 1);
    assert.equal(phaseToPauseFor(grown, [{ failed: 2 }, { failed: 3, admitted: 10 }]), undefined);
    assert.equal(phaseToPauseFor(grown, [{ failed: 2 }, { failed: 6, admitted: 10 }]), 1);
    assert.equal(phaseToPauseFor(planPhases([{ batch_size: 100 }], 3), [{ failed: 3 }]), undefined);
  });
});
