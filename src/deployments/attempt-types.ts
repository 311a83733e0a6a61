// The words of the attempt state machine's API, shared by the modules that implement it and the protocols that
// call it: what a device is told to do, the steps and ends it reports, what became of a report, and the state of an
// attempt read off its device deployment.
import type { Transaction } from 'kysely';
import type { Tables } from '../store/schema.js';
import type { ControlMapWire } from './rules/controlmap.js';
import type { CandidateArtifact, DeviceProvides } from './rules/matching.js';
import { type DeviceDeploymentStatus, isActive, type PauseStatus } from './rules/status.js';
import type { LogLine } from './store.js';
import type { DeviceDeploymentTable } from './tables.js';

type Trx = Transaction<Tables>;

/** An artifact a device is told to install: what matching needs, and where its bytes are (for the link). */
export interface AssignedArtifact extends CandidateArtifact {
  blobKey: string;
}

/** A step of an attempt that is still running. */
export type Step = 'downloading' | 'installing' | 'rebooting' | PauseStatus;
/** How an attempt ended, as a device says it. */
export type Outcome = 'success' | 'failure' | 'already-installed';

/** Names a device's part in a deployment; with `attempt`, one attempt of it (a retry is the next attempt). */
export interface AttemptRef {
  tenantId: string;
  deviceId: string;
  deploymentId: string;
  attempt?: number;
}

export interface AssignInput {
  provides: DeviceProvides;
  /** Check depends on the server (Mender's v1 GET carries no provides, so it cannot). */
  checkDepends: boolean;
  /** The device handles update control maps (Mender v2 asks for them). */
  controlMap?: boolean;
}

/** What a device should do now. */
export type Assignment =
  | { kind: 'none' }
  /** The device asked again mid-update with other provides than before: that attempt has failed (Mender: 409). */
  | { kind: 'conflict' }
  | {
      kind: 'install';
      deploymentId: string;
      attempt: number;
      status: DeviceDeploymentStatus;
      artifact: AssignedArtifact;
      controlMap?: ControlMapWire;
    }
  | {
      kind: 'configure';
      deploymentId: string;
      attempt: number;
      status: DeviceDeploymentStatus;
      artifactName: string;
      deviceType: string;
      controlMap?: ControlMapWire;
    };

/**
 * What became of a report. refused answers: `gone` (no such device deployment), `aborted` / `decommissioned`
 * (nothing moves it any more), `ended` (the attempt named is over: superseded by a retry, or finished).
 */
export type ReportResult = 'applied' | 'retrying' | 'unchanged' | 'gone' | 'aborted' | 'decommissioned' | 'ended';

export type AttemptState =
  | { kind: 'live'; status: DeviceDeploymentStatus }
  | { kind: 'ended'; status: DeviceDeploymentStatus }
  | { kind: 'aborted' }
  | { kind: 'decommissioned' }
  | { kind: 'gone' };

export interface ReportOptions {
  /** Mender's substate; empty keeps the stored one. */
  substate?: string;
  /** Lines for the device's deployment log, written with the change. */
  log?: readonly LogLine[];
  /** The protocol's own facts, written in the same transaction (whenever the report is not refused). */
  /** Ignore a step that is not past the attempt's current one (messages that may arrive out of order). */
  onlyForward?: boolean;
  alongside?: (trx: Trx) => Promise<void>;
  /**
   * The protocol's record of what the device runs now, written in the same transaction as a success that installed
   * something: not one whose update part the deployment's handling skipped (download-only, a shut maintenance
   * window), which installed nothing.
   */
  installed?: (trx: Trx) => Promise<void>;
}

/** What an attempt's row says about it. */
export function stateOf(dd: DeviceDeploymentTable | undefined, attempt: number | undefined): AttemptState {
  if (!dd) return { kind: 'gone' };
  if (attempt !== undefined && dd.attempts !== attempt) {
    // A later attempt exists: this one failed (a retry), or the history was reset after it.
    return dd.attempts > attempt ? { kind: 'ended', status: 'failure' } : { kind: 'gone' };
  }
  if (dd.status === 'aborted') return { kind: 'aborted' };
  if (dd.status === 'decommissioned') return { kind: 'decommissioned' };
  return isActive(dd.status) ? { kind: 'live', status: dd.status } : { kind: 'ended', status: dd.status };
}
