// One deployment: its status and statistics, its phases, each device's status with its log, and the operator's
// moves (abort, resume a rollout paused by a failure threshold, continue devices held by an update control map).
// Polled while visible, so it moves on by itself.
import { useState } from 'react';
import { api, apiText } from '../api';
import { useLoad } from '../hooks';
import { navigate } from '../router';
import { ACTIVE, D1, type Deployment, LogPanel, Stats } from './deployment-shared';

interface DeploymentDevice {
  id: string;
  status: string;
  substate?: string;
  attempts?: number;
  log?: boolean;
  finished?: string;
}

/** The update control map states a device can wait in, and the state whose "continue" lets it go on. */
const PAUSES: Record<string, string> = {
  pause_before_installing: 'ArtifactInstall_Enter',
  pause_before_rebooting: 'ArtifactReboot_Enter',
  pause_before_committing: 'ArtifactCommit_Enter',
};

export function DeploymentDetail({ id }: { id: string }) {
  const deployment = useLoad(() => api<Deployment>('GET', `${D1}/${id}`), [id], 2000);
  const devices = useLoad(() => api<DeploymentDevice[]>('GET', `${D1}/${id}/devices`), [id], 2000);
  const [message, setMessage] = useState<string>();
  const [log, setLog] = useState<{ device: string; text: string }>();
  const d = deployment.data;

  const act = async (label: string, call: () => Promise<unknown>) => {
    setMessage(undefined);
    try {
      await call();
      setMessage(label);
    } catch (e) {
      setMessage(`Failed: ${e instanceof Error ? e.message : String(e)}`);
    }
    deployment.reload();
    devices.reload();
  };
  const waitingIn = new Set((devices.data ?? []).map((x) => x.status).filter((s) => s in PAUSES));

  return (
    <section aria-labelledby="deployment-title">
      <p>
        <a
          href="/ui/deployments"
          onClick={(e) => {
            e.preventDefault();
            navigate('/deployments');
          }}
        >
          ← All deployments
        </a>
      </p>
      <h1 id="deployment-title">Deployment {d?.name ?? id}</h1>
      {deployment.error && (
        <p role="alert" className="error">
          {deployment.error}
        </p>
      )}
      {d && (
        <>
          <dl className="facts">
            <dt>Release</dt>
            <dd>{d.artifact_name}</dd>
            <dt>Status</dt>
            <dd data-testid="deployment-status">
              {d.status}
              {d.paused ? ' (paused)' : ''}
            </dd>
            <dt>Devices</dt>
            <dd>
              <Stats stats={d.statistics?.status} />
            </dd>
          </dl>
          {d.phases && d.phases.length > 0 && (
            <table aria-label="Phases">
              <thead>
                <tr>
                  <th scope="col">Phase</th>
                  <th scope="col">Batch</th>
                  <th scope="col">Devices</th>
                  <th scope="col">Starts</th>
                  <th scope="col">Pause above</th>
                </tr>
              </thead>
              <tbody>
                {d.phases.map((p, i) => (
                  <tr key={p.id}>
                    <td>{i + 1}</td>
                    <td>{p.batch_size}%</td>
                    <td>{p.device_count}</td>
                    <td>{p.start_ts ? new Date(p.start_ts).toLocaleString() : 'at once'}</td>
                    <td>
                      {p.failure_threshold === undefined ? '' : `${Math.round(p.failure_threshold * 100)}% failed`}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <div className="actions">
            {d.paused && (
              <button
                type="button"
                onClick={() =>
                  act('Rollout resumed.', () => api('PUT', `${D1}/${id}/status`, { status: 'inprogress' }))
                }
              >
                Resume rollout
              </button>
            )}
            {[...waitingIn].map((status) => (
              <button
                key={status}
                type="button"
                onClick={() =>
                  act(`Devices waiting (${status.replace(/_/g, ' ')}) continue.`, () =>
                    api('PATCH', `${D1}/${id}`, {
                      update_control_map: { states: { [PAUSES[status]]: { action: 'continue' } } },
                    }),
                  )
                }
              >
                Continue {status.replace(/_/g, ' ')}
              </button>
            ))}
            {ACTIVE.has(d.status) && (
              <button
                type="button"
                className="danger"
                onClick={() => {
                  if (window.confirm(`Abort deployment ${d.name}? Devices not yet done stop updating.`)) {
                    act('Deployment aborted.', () => api('PUT', `${D1}/${id}/status`, { status: 'aborted' }));
                  }
                }}
              >
                Abort
              </button>
            )}
          </div>
        </>
      )}
      {message && <p role="status">{message}</p>}
      <h2>Devices</h2>
      {devices.data?.length === 0 && <p className="empty">No device has taken part yet.</p>}
      {devices.data && devices.data.length > 0 && (
        <table aria-label="Devices of this deployment">
          <thead>
            <tr>
              <th scope="col">Device</th>
              <th scope="col">Status</th>
              <th scope="col">Attempts</th>
              <th scope="col">Log</th>
            </tr>
          </thead>
          <tbody>
            {devices.data.map((x) => (
              <tr key={x.id} data-device={x.id}>
                <td className="mono">{x.id}</td>
                <td data-testid="device-status">
                  {x.status}
                  {x.substate ? ` (${x.substate})` : ''}
                </td>
                <td>{x.attempts ?? ''}</td>
                <td>
                  {x.log && (
                    <button
                      type="button"
                      className="secondary"
                      onClick={() =>
                        apiText('GET', `${D1}/${id}/devices/${x.id}/log`).then(
                          (text) => setLog({ device: x.id, text }),
                          (e: unknown) => setMessage(`Log: ${e instanceof Error ? e.message : String(e)}`),
                        )
                      }
                    >
                      View log
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {log && <LogPanel of={log.device} text={log.text} onClose={() => setLog(undefined)} />}
    </section>
  );
}
