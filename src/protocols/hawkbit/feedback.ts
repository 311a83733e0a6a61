// hawkBit DDI feedback onto the one deployment state machine (pure rules). The DDI feedback table (the spec's "State
// Machine Mapping"):
//   deploymentBase feedback                       → what it does to the action's attempt
//   closed + success | none                       → ends success (hawkBit: FINISHED; `none` is handled like SUCCESS)
//   closed + failure                              → ends failure
//   canceled                                      → the target cancels (or confirms a cancellation): the attempt ends
//                                                   aborted, not a failure (hawkBit: CANCELED)
//   rejected                                      → a warning in the action's history; nothing changes (hawkBit: WARNING)
//   download                                      → downloading
//   downloaded                                    → downloaded (the domain ends a download-only attempt there)
//   proceeding                                    → installing
//   scheduled | resumed                           → no status change (logged only)
//   cancelAction feedback (the operator aborted; the device deployment is already `aborted`)
//   closed + success | none, canceled             → the cancellation is acknowledged: the action closes
//   rejected, closed + failure                    → the target cannot cancel now: a warning, and the action goes on
//                                                   (hawkBit: CANCEL_REJECTED / ERROR → back to RUNNING)
//   anything else                                 → logged only
import { Invalid } from '../../errors.js';

const MAX_LOG_LINE = 4000;

export const EXECUTIONS = [
  'closed',
  'proceeding',
  'canceled',
  'scheduled',
  'rejected',
  'resumed',
  'download',
  'downloaded',
] as const;
export type Execution = (typeof EXECUTIONS)[number];
export const FINISHED = ['success', 'failure', 'none'] as const;
export type Finished = (typeof FINISHED)[number];

export interface Feedback {
  execution: Execution;
  finished: Finished;
  progress?: { cnt: number; of?: number };
  details: string[];
  /** The optional `time` the device sent (hawkBit's yyyyMMdd'T'HHmmss or ISO), kept for the log. */
  time?: string;
}

/** What a deploymentBase feedback does to the action's attempt. */
export type DeploymentEffect =
  | { kind: 'end'; outcome: 'success' | 'failure' }
  | { kind: 'step'; step: 'downloading' | 'installing' }
  | { kind: 'downloaded' }
  | { kind: 'canceled' }
  | { kind: 'log' };

export function deploymentEffect(feedback: Pick<Feedback, 'execution' | 'finished'>): DeploymentEffect {
  switch (feedback.execution) {
    case 'closed':
      return { kind: 'end', outcome: feedback.finished === 'failure' ? 'failure' : 'success' };
    case 'canceled':
      return { kind: 'canceled' };
    case 'download':
      return { kind: 'step', step: 'downloading' };
    case 'downloaded':
      return { kind: 'downloaded' };
    case 'proceeding':
      return { kind: 'step', step: 'installing' };
    default:
      return { kind: 'log' };
  }
}

/** What a cancelAction feedback does: acknowledges the cancellation, refuses it (the action goes on), or is logged. */
export function cancelEffect(feedback: Pick<Feedback, 'execution' | 'finished'>): 'acknowledged' | 'refused' | 'log' {
  if (feedback.execution === 'canceled') return 'acknowledged';
  if (feedback.execution === 'rejected') return 'refused';
  if (feedback.execution === 'closed') return feedback.finished === 'failure' ? 'refused' : 'acknowledged';
  return 'log';
}

/**
 * Checks a feedback body as hawkBit does (a 400 for anything malformed): `status.execution` and
 * `status.result.finished` from their enums, `details` a list of strings, `progress` numbers.
 */
export function parseFeedback(body: unknown): Feedback {
  const root = asObject(body, 'body');
  const status = asObject(root.status, 'status');
  const execution = status.execution;
  if (typeof execution !== 'string' || !(EXECUTIONS as readonly string[]).includes(execution.toLowerCase()))
    throw new Invalid(`status.execution: must be one of ${EXECUTIONS.join(', ')}`);
  const result = asObject(status.result, 'status.result');
  const finished = result.finished;
  if (typeof finished !== 'string' || !(FINISHED as readonly string[]).includes(finished.toLowerCase()))
    throw new Invalid(`status.result.finished: must be one of ${FINISHED.join(', ')}`);
  let progress: Feedback['progress'];
  if (result.progress !== undefined && result.progress !== null) {
    const p = asObject(result.progress, 'status.result.progress');
    if (typeof p.cnt !== 'number' || (p.of !== undefined && typeof p.of !== 'number'))
      throw new Invalid('status.result.progress: cnt and of must be numbers');
    progress = { cnt: p.cnt, of: p.of as number | undefined };
  }
  const details = status.details ?? [];
  if (!Array.isArray(details) || details.some((d) => typeof d !== 'string'))
    throw new Invalid('status.details: must be a list of strings');
  if (root.time !== undefined && typeof root.time !== 'string') throw new Invalid('time: must be a string');
  return {
    execution: execution.toLowerCase() as Execution,
    finished: finished.toLowerCase() as Finished,
    progress,
    details: details as string[],
    time: root.time as string | undefined,
  };
}

/** A target's answer to an action that waits for its confirmation. */
export interface Confirmation {
  confirmation: 'confirmed' | 'denied';
  code?: number;
  details: string[];
}

/** A confirmation feedback body (DdiConfirmationFeedback): `confirmation`, optional `code` and `details`. */
export function parseConfirmation(body: unknown): Confirmation {
  const root = asObject(body, 'body');
  const confirmation = root.confirmation;
  if (confirmation !== 'confirmed' && confirmation !== 'denied')
    throw new Invalid('confirmation: must be confirmed or denied');
  if (root.code !== undefined && root.code !== null && (typeof root.code !== 'number' || !Number.isInteger(root.code)))
    throw new Invalid('code: must be an integer');
  const details = root.details ?? [];
  if (!Array.isArray(details) || details.some((d) => typeof d !== 'string'))
    throw new Invalid('details: must be a list of strings');
  return {
    confirmation,
    ...(typeof root.code === 'number' ? { code: root.code } : {}),
    details: details as string[],
  };
}

function asObject(value: unknown, name: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new Invalid(`${name}: must be an object`);
  return value as Record<string, unknown>;
}

/** A failure the device reports is an error in the deployment log, a rejection a warning, the rest information. */
export function levelOf(feedback: Feedback): 'info' | 'warning' | 'error' {
  if (feedback.finished === 'failure') return 'error';
  return feedback.execution === 'rejected' ? 'warning' : 'info';
}

/** The deployment log line for a feedback (details joined), so operators see what the device said. */

export function logLine(kind: 'deployment' | 'cancel', feedback: Feedback): string {
  const progress = feedback.progress ? ` ${feedback.progress.cnt}/${feedback.progress.of ?? '?'}` : '';
  const details = feedback.details.length ? `: ${feedback.details.join(' | ')}` : '';
  const line = `ddi ${kind} feedback ${feedback.execution}/${feedback.finished}${progress}${details}`;
  // SWUpdate sends its whole trace as details; the log keeps the start of it.
  return line.length > MAX_LOG_LINE ? `${line.slice(0, MAX_LOG_LINE)}…` : line;
}
