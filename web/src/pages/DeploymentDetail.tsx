// One deployment: its status and statistics, its phases, each device's status with its log, and the operator's
// moves (abort, resume a rollout paused by a failure threshold, continue devices held by an update control map).
// Polled while visible, so it moves on by itself.
import { api } from '../api';
import { useLoad } from '../hooks';
import { Alert, Head, Link, OutcomeLine, useAction, when } from '../ui';
import { ACTIVE, D1, type Deployment, Stats, useDeviceLog } from './deployment-shared';

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
  const logs = useDeviceLog();
  const d = deployment.data;
  const { outcome, act } = useAction(() => {
    deployment.reload();
    devices.reload();
  });
  const waitingIn = new Set((devices.data ?? []).map((x) => x.status).filter((s) => s in PAUSES));

  return (
    <section aria-labelledby="deployment-title">
      <p>
        <Link to="/deployments">← All deployments</Link>
      </p>
      <h1 id="deployment-title">Deployment {d?.name ?? id}</h1>
      <Alert error={deployment.error} />
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
            <dt>Retries per device</dt>
            <dd>{d.retries ?? 0}</dd>
          </dl>
          {d.phases && d.phases.length > 0 && (
            <table aria-label="Phases">
              <Head columns={['Phase', 'Batch', 'Devices', 'Starts', 'Pause above']} />
              <tbody>
                {d.phases.map((p, i) => (
                  <tr key={p.id}>
                    <td>{i + 1}</td>
                    <td>{p.batch_size}%</td>
                    <td>{p.device_count}</td>
                    <td>{when(p.start_ts) || 'at once'}</td>
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
      <OutcomeLine outcome={outcome} />
      <h2>Devices</h2>
      {devices.data?.length === 0 && <p className="empty">No device has taken part yet.</p>}
      {devices.data && devices.data.length > 0 && (
        <table aria-label="Devices of this deployment">
          <Head columns={['Device', 'Status', 'Attempts', 'Log']} />
          <tbody>
            {devices.data.map((x) => (
              <tr key={x.id} data-device={x.id}>
                <td className="mono">
                  <Link to={`/devices/${x.id}`}>{x.id}</Link>
                </td>
                <td data-testid="device-status">
                  {x.status}
                  {x.substate ? ` (${x.substate})` : ''}
                </td>
                <td>{x.attempts ?? ''}</td>
                <td>{x.log && logs.button(id, x.id, x.id)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <Alert error={logs.error} />
      {logs.panel}
    </section>
  );
}
