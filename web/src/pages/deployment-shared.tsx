// What the deployment pages and a device's page share: the API path, the deployment's shape, its statistics, and
// the button and panel that show a device deployment's log.
import { useState } from 'react';
import { apiText } from '../api';
import { messageOf } from '../ui';

export const D1 = '/api/management/v1/deployments/deployments';

export interface Deployment {
  id: string;
  name: string;
  artifact_name: string;
  created: string;
  finished?: string;
  status: string;
  device_count: number;
  groups?: string[];
  filter?: { name?: string };
  retries?: number;
  paused?: boolean;
  phases?: { id: string; batch_size: number; start_ts?: string; device_count: number; failure_threshold?: number }[];
  statistics?: { status: Record<string, number> };
}

/** Statuses in which a deployment can still be aborted. */
export const ACTIVE = new Set(['pending', 'inprogress', 'scheduled']);

export function Stats({ stats }: { stats?: Record<string, number> }) {
  const shown = Object.entries(stats ?? {}).filter(([, n]) => n > 0);
  if (shown.length === 0) return <span className="muted">no devices yet</span>;
  return (
    <ul className="stats">
      {shown.map(([status, n]) => (
        <li key={status} data-stat={status}>
          {status.replace(/_/g, ' ')}: {n}
        </li>
      ))}
    </ul>
  );
}

/** A device deployment's log, shown under the list it was opened from, with a button that closes it. */
export function LogPanel({ of, text, onClose }: { of: string; text: string; onClose: () => void }) {
  return (
    <section aria-label={`Deployment log of ${of}`} className="log">
      <h2>Log of {of}</h2>
      <button type="button" className="secondary" onClick={onClose}>
        Close log
      </button>
      <pre>{text}</pre>
    </section>
  );
}

/** "View log" buttons for device deployments, the panel of the one opened last, and why one could not be read. */
export function useDeviceLog() {
  const [log, setLog] = useState<{ of: string; text: string }>();
  const [error, setError] = useState<string>();
  const button = (deploymentId: string, deviceId: string, of: string) => (
    <button
      type="button"
      className="secondary"
      onClick={() =>
        apiText('GET', `${D1}/${deploymentId}/devices/${deviceId}/log`).then(
          (text) => {
            setError(undefined);
            setLog({ of, text });
          },
          (e: unknown) => setError(`Log: ${messageOf(e)}`),
        )
      }
    >
      View log
    </button>
  );
  const panel = log && <LogPanel of={log.of} text={log.text} onClose={() => setLog(undefined)} />;
  return { button, panel, error };
}
