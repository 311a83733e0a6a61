// Device monitoring (Mender devicemonitor): every alert a device sent, the state of each check (its latest alert:
// CRITICAL is open, OK closed), and the list of checks the device says it runs.

export type AlertLevel = 'OK' | 'CRITICAL';

export interface MonitorAlertTable {
  tenant_id: string;
  id: string;
  device_id: string;
  name: string;
  level: AlertLevel;
  subject_name: string;
  subject_type: string;
  subject_status: string;
  /** The alert's `subject.details` as JSON text, when sent. */
  details_json: string | null;
  /** The alert's own timestamp (when the device saw it), as an ISO string in UTC. */
  issued_ts: string;
  received_ts: string;
}

/** One check of a device, named by the alert's `name` and `subject.name`: its latest alert. */
export interface MonitorCheckTable {
  tenant_id: string;
  device_id: string;
  name: string;
  subject_name: string;
  alert_id: string;
  level: AlertLevel;
  issued_ts: string;
}

export interface MonitorConfigTable {
  tenant_id: string;
  device_id: string;
  /** The device's checks as it posted them: `[{name, status, type, ...}]` as JSON text. */
  checks_json: string;
  updated_ts: string;
}

declare module '../store/schema.js' {
  interface Tables {
    monitor_alerts: MonitorAlertTable;
    monitor_checks: MonitorCheckTable;
    monitor_configs: MonitorConfigTable;
  }
}
