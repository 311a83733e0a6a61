// Phased rollouts: validating a deployment's phases, how many devices each phase holds, which phase the n-th device
// to ask belongs to and whether it may have the update now, and Flotilla's rollout-safety rule (pause the
// deployment when a phase's failures exceed its failure_threshold).
import { Invalid } from '../../errors.js';

/** A phase as a user sends it (NewDeploymentPhase, seed 001 and deployments-management-v2.yml). */
export interface PhaseInput {
  /** Percentage of the deployment's devices; optional for the last phase, which takes the rest. */
  batch_size?: number;
  /** RFC 3339; optional for the first phase ("start immediately"). */
  start_ts?: string;
  /** Flotilla: pause the deployment when more than this fraction (0 < f ≤ 1) of the phase's devices failed. */
  failure_threshold?: number;
}

/** A validated phase with its device count; `batch_size` is filled in for the last phase as Mender does. */
export interface PhasePlan {
  batch_size: number;
  /** Absent only for a first phase that starts when the deployment is created. */
  start_ts?: string;
  /** Devices in this phase at creation. The last phase is open-ended: dynamic deployments grow into it. */
  device_count: number;
  failure_threshold?: number;
}

/**
 * Validates phases and computes each phase's devices; throws `Invalid` (400).
 * Rounding (integration backend-tests test_deployments.py calculate_phase_sizes): every phase but the last holds
 * floor(batch_size × devices / 100); the last holds the rest, and its batch_size becomes 100 − the others.
 * Empty phase: Mender's message "Attempt to create a batch with zero devices not allowed" and "Batch: (n) will be
 * empty", n counted from 1 (test_disallow_empty_phase); a phased deployment with no devices fails the same way.
 * The other rules and their wording are Flotilla's (the enterprise source is not public): batch sizes are integers
 * 1..100, required except on the last phase, adding up to at most 100 (exactly 100 when the last one is given);
 * only the first phase may omit start_ts, and start times must strictly increase.
 * An empty list means "no phases" and yields an empty plan.
 */
export function planPhases(phases: readonly PhaseInput[], deviceCount: number): PhasePlan[] {
  if (phases.length === 0) return [];
  const last = phases.length - 1;
  let given = 0;
  let previousStart: number | undefined;
  phases.forEach((phase, index) => {
    const n = index + 1;
    if (phase.batch_size === undefined || phase.batch_size === null) {
      if (index !== last) throw new Invalid(`Invalid phase (${n}): batch_size is required for all but the last phase`);
    } else {
      if (!Number.isInteger(phase.batch_size) || phase.batch_size < 1 || phase.batch_size > 100) {
        throw new Invalid(`Invalid phase (${n}): batch_size must be an integer between 1 and 100`);
      }
      given += phase.batch_size;
    }
    if (phase.start_ts === undefined || phase.start_ts === null) {
      if (index !== 0) throw new Invalid(`Invalid phase (${n}): start_ts is required for all but the first phase`);
    } else {
      const start = Date.parse(phase.start_ts);
      if (Number.isNaN(start)) throw new Invalid(`Invalid phase (${n}): start_ts is not a valid date-time`);
      if (previousStart !== undefined && start <= previousStart) {
        throw new Invalid(`Invalid phase (${n}): start_ts must be later than the previous phase's start_ts`);
      }
      previousStart = start;
    }
    const threshold = phase.failure_threshold;
    if (threshold !== undefined && threshold !== null && !(threshold > 0 && threshold <= 1)) {
      throw new Invalid(`Invalid phase (${n}): failure_threshold must be a fraction greater than 0 and at most 1`);
    }
  });
  if (given > 100) throw new Invalid('Invalid phases: the sum of batch sizes exceeds 100 percent');
  if (phases[last].batch_size !== undefined && phases[last].batch_size !== null && given !== 100) {
    throw new Invalid('Invalid phases: the batch sizes must add up to 100 percent when the last phase has one');
  }

  let assigned = 0;
  return phases.map((phase, index) => {
    const batchSize = index === last ? 100 - (given - (phase.batch_size ?? 0)) : (phase.batch_size as number);
    const devices = index === last ? deviceCount - assigned : Math.floor((batchSize * deviceCount) / 100);
    if (devices <= 0) {
      throw new Invalid(`Attempt to create a batch with zero devices not allowed. Batch: (${index + 1}) will be empty`);
    }
    assigned += devices;
    const plan: PhasePlan = { batch_size: batchSize, device_count: devices };
    if (phase.start_ts !== undefined && phase.start_ts !== null) plan.start_ts = phase.start_ts;
    if (phase.failure_threshold !== undefined && phase.failure_threshold !== null) {
      plan.failure_threshold = phase.failure_threshold;
    }
    return plan;
  });
}

/** When the deployment may first hand out its update: the first phase's start, if one was given. */
export function firstPhaseStart(plan: readonly PhasePlan[]): string | undefined {
  return plan[0]?.start_ts;
}

function hasStarted(phase: PhasePlan, now: Date): boolean {
  return phase.start_ts === undefined || Date.parse(phase.start_ts) <= now.getTime();
}

/**
 * The phase (0-based) of the device admitted at `position` (0 = the first device to ask). Devices fill the phases
 * in order; positions past the planned total belong to the last phase, which is how a dynamic deployment's last
 * phase "expands to contain all remaining devices" (mender-docs 02.Overview/05.Deployment). A plan without phases
 * is one phase.
 */
export function phaseOfPosition(plan: readonly PhasePlan[], position: number): number {
  let upTo = 0;
  for (let index = 0; index < plan.length - 1; index++) {
    upTo += plan[index].device_count;
    if (position < upTo) return index;
  }
  return Math.max(plan.length - 1, 0);
}

/**
 * Whether the device at `position` may get the update at `now`: its phase has started. A device that asks before
 * gets no instructions (204) and takes no position (integration test_deployments.py try_phased_updates: "capacity
 * exceeded" devices get 204 and phase device counts do not move; mender-docs "checks if there is an active phase").
 * Unused room of an earlier phase stays open after the next phase starts.
 */
export function mayReceive(plan: readonly PhasePlan[], position: number, now: Date): boolean {
  if (plan.length === 0) return true;
  return hasStarted(plan[phaseOfPosition(plan, position)], now);
}

/**
 * Devices admitted so far per phase, as the deployment's `phases[].device_count` reports them ("number of devices
 * which already requested an update within this phase"), given how many devices were admitted in all.
 */
export function admittedPerPhase(plan: readonly PhasePlan[], admitted: number): number[] {
  let before = 0;
  return plan.map((phase, index) => {
    const room = index === plan.length - 1 ? Number.POSITIVE_INFINITY : phase.device_count;
    const here = Math.max(0, Math.min(admitted - before, room));
    before += here;
    return here;
  });
}

/** Outcome so far of one phase's devices. */
export interface PhaseOutcome {
  /** Devices of the phase whose deployment ended in failure (after their retries). */
  failed: number;
  /** Devices admitted in the phase; counts when a dynamic last phase grew past its planned size. */
  admitted?: number;
}

/**
 * Flotilla's rollout-safety rule: the first phase (0-based) whose failed devices exceed failure_threshold × its
 * devices (planned count, or admitted when larger), or undefined when the deployment may go on. Strictly "exceed",
 * like hawkBit's error threshold, so a threshold of 0.1 tolerates 1 failure in 10. Only phases with a threshold
 * count; `failed` must be final failures (a retried failure is not one).
 */
export function phaseToPauseFor(plan: readonly PhasePlan[], outcomes: readonly PhaseOutcome[]): number | undefined {
  for (let index = 0; index < plan.length; index++) {
    const threshold = plan[index].failure_threshold;
    const outcome = outcomes[index];
    if (threshold === undefined || outcome === undefined) continue;
    const devices = Math.max(plan[index].device_count, outcome.admitted ?? 0);
    // Compare ratios, not failed > threshold × devices: 0.29 × 100 is 28.999… in floating point.
    if (devices > 0 && outcome.failed / devices > threshold) return index;
  }
  return undefined;
}
