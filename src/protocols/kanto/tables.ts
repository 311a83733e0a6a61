// Kanto's own tables: which Flotilla devices are Kanto things (with their embedded-broker password and what they
// run), the activities (apply / refresh) sent to them with the replay guard of their feedback (progress and logs
// live with the domain's attempt), and owner consent requests with the operators' decisions.
/** The face (auth set name) Kanto things carry in the devices domain. */
export const KANTO_FACE = 'kanto:mqtt';

export interface KantoDeviceTable {
  tenant_id: string;
  /** The Flotilla device id. */
  device_id: string;
  /** The Ditto thing id `<namespace>:<name>`, which is also the Hono device id in topics. */
  thing_id: string;
  /** Hono's auth-id: the name the device logs in with (`<auth-id>@<tenant>`); the thing id unless set apart. */
  auth_id: string;
  /** scrypt hash of the embedded-broker password; null when the device only uses an external broker. */
  password_hash: string | null;
  device_type: string;
  /** The desired state artifact the device last completed; null before any. */
  artifact_name: string | null;
  /** When the device was last heard from (any valid message). */
  last_seen_ts: string | null;
  created_ts: string;
  updated_ts: string;
}

export type ActivityKind = 'apply' | 'refresh';
/** sent: waiting for the device's answer; acknowledged: 204 came; running: feedback came; then one of the ends. */
export type ActivityStatus = 'sent' | 'acknowledged' | 'running' | 'completed' | 'failed';

export interface KantoActivityTable {
  tenant_id: string;
  /** The activityId sent to the device. */
  id: string;
  device_id: string;
  kind: ActivityKind;
  /** Apply only: the deployment and the attempt (device deployment attempts) it serves. */
  deployment_id: string | null;
  attempt: number;
  artifact_name: string | null;
  status: ActivityStatus;
  /** The `timestamp` of the last feedback taken (ms since epoch): older ones are replays. */
  feedback_ts: number;
  /** sha256 of the last feedback taken: one with the same timestamp and digest is a replay, another is news. */
  feedback_digest: string;
  created_ts: string;
  updated_ts: string;
}

declare module '../../store/schema.js' {
  interface Tables {
    kanto_devices: KantoDeviceTable;
    kanto_activities: KantoActivityTable;
  }
}

export type ConsentDecision = 'approved' | 'denied';

/** A device's request for its owner's consent during an apply (the latest per activity), and its answer. */
export interface KantoConsentTable {
  tenant_id: string;
  activity_id: string;
  device_id: string;
  deployment_id: string;
  /** DOWNLOAD, UPDATE or ACTIVATE: the phase the update manager is about to start. */
  command: string;
  /** The request's Ditto correlation id, which the answer must carry. */
  correlation_id: string;
  requested_ts: string;
  answer: ConsentDecision | null;
  answered_ts: string | null;
}

/** The operator's consent decision for every device of a deployment. */
export interface KantoConsentDecisionTable {
  tenant_id: string;
  deployment_id: string;
  decision: ConsentDecision;
  decided_ts: string;
}

declare module '../../store/schema.js' {
  interface Tables {
    kanto_consents: KantoConsentTable;
    kanto_consent_decisions: KantoConsentDecisionTable;
  }
}
