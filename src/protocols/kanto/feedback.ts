// Desired-state feedback onto the one deployment state machine, as pure functions. The update manager reports an
// overall status (IDENTIFYING … COMPLETED / INCOMPLETE) and one action per component (IDENTIFIED, DOWNLOADING,
// UPDATE_SUCCESS, …); the device deployment moves downloading → installing → success / failure from them (never
// backwards: the domain's onlyForward), and every feedback becomes lines of the device's deployment log.
import type { LogLine as LogMessage } from '../../deployments/service.js';
import { type Feedback, MalformedMessage } from './ditto.js';

export type DeploymentStep = 'downloading' | 'installing' | 'success' | 'failure';

/** Overall statuses (desired-state-feedback-specification.md, plus the agent-level names UM code also knows). */
const SUCCESS = new Set(['COMPLETED']);
const FAILURE = new Set([
  'IDENTIFICATION_FAILED',
  'INCOMPLETE',
  'INCOMPLETE_INCONSISTENT',
  'SUPERSEDED',
  'DOWNLOADED_FAILED',
  'DOWNLOAD_FAILURE',
  'UPDATE_FAILED',
  'UPDATE_FAILURE',
  'ACTIVATION_FAILED',
  'ACTIVATION_FAILURE',
  'ROLLBACK',
  'ROLLBACK_SUCCESS',
  'ROLLBACK_FAILURE',
  'CLEANUP_FAILURE',
]);
const DOWNLOAD_PHASE = new Set([
  'IDENTIFYING',
  'IDENTIFIED',
  'RUNNING',
  'DOWNLOADING',
  'DOWNLOAD_SUCCESS',
  'DOWNLOADED_COMPLETED',
]);
const INSTALL_PHASE = new Set([
  'UPDATING',
  'UPDATE_SUCCESS',
  'UPDATE_COMPLETED',
  'ACTIVATING',
  'ACTIVATION_SUCCESS',
  'ACTIVATION_COMPLETED',
  'CLEANUP',
  'CLEANUP_SUCCESS',
]);

/** Per-component action statuses; the doc's DOWNLOADED_* spellings are accepted too. */
const ACTION_DOWNLOAD = new Set([
  'IDENTIFIED',
  'DOWNLOADING',
  'DOWNLOAD_SUCCESS',
  'DOWNLOADED_SUCCESS',
  'DOWNLOAD_FAILURE',
  'DOWNLOADED_FAILURE',
]);
const ACTION_INSTALL = new Set([
  'UPDATING',
  'UPDATE_SUCCESS',
  'UPDATE_FAILURE',
  'ACTIVATING',
  'ACTIVATION_SUCCESS',
  'ACTIVATION_FAILURE',
  'REMOVING',
  'REMOVAL_SUCCESS',
  'REMOVAL_FAILURE',
]);

const isFailureAction = (status: string) => status.endsWith('_FAILURE');

/** Throws MalformedMessage for statuses the protocol does not have. */
export function checkFeedbackStatuses(feedback: Feedback): void {
  const overall = feedback.status;
  if (!SUCCESS.has(overall) && !FAILURE.has(overall) && !DOWNLOAD_PHASE.has(overall) && !INSTALL_PHASE.has(overall)) {
    throw new MalformedMessage(`unknown desired state feedback status ${JSON.stringify(overall)}`);
  }
  for (const action of feedback.actions) {
    if (!ACTION_DOWNLOAD.has(action.status) && !ACTION_INSTALL.has(action.status)) {
      throw new MalformedMessage(`unknown action status ${JSON.stringify(action.status)} for ${action.component.id}`);
    }
  }
}

/**
 * The deployment step a feedback means. Phases arrive out of order (a late RUNNING after an UPDATING one), so the
 * adapter reports them with `onlyForward` and the deployments domain ignores a step behind the attempt's; the end
 * statuses end the activity.
 */
export function stepOfFeedback(feedback: Feedback): { step: DeploymentStep; final: boolean } {
  checkFeedbackStatuses(feedback);
  if (SUCCESS.has(feedback.status)) return { step: 'success', final: true };
  if (FAILURE.has(feedback.status)) return { step: 'failure', final: true };
  const installing = INSTALL_PHASE.has(feedback.status) || feedback.actions.some((a) => ACTION_INSTALL.has(a.status));
  return { step: installing ? 'installing' : 'downloading', final: false };
}

/** Log lines for one feedback: the overall status, then one line per component action. */
export function feedbackLog(feedback: Feedback, at: Date): LogMessage[] {
  const timestamp = at.toISOString();
  const overallFailed = FAILURE.has(feedback.status);
  const baseline = feedback.baseline ? ` (baseline ${feedback.baseline})` : '';
  const lines: LogMessage[] = [
    {
      timestamp,
      level: overallFailed ? 'error' : 'info',
      message: `kanto: desired state ${feedback.status}${baseline}${feedback.message ? `: ${feedback.message}` : ''}`,
    },
  ];
  for (const action of feedback.actions) {
    const version = action.component.version ? ` ${action.component.version}` : '';
    const progress = action.progress !== undefined ? ` ${action.progress}%` : '';
    lines.push({
      timestamp,
      level: isFailureAction(action.status) ? 'error' : 'info',
      message: `kanto: ${action.component.id}${version} ${action.status}${progress}${action.message ? `: ${action.message}` : ''}`,
    });
  }
  return lines;
}
