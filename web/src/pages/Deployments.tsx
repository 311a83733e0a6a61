// Deployments: creating one (a release to all accepted devices or to a static group, optionally in two phases
// with a failure threshold), the list with live status
// and per-status device counts (polled while the page is visible, no reload needed), and aborting one.
import { type FormEvent, useState } from 'react';
import { api } from '../api';
import { useLoad } from '../hooks';
import { navigate, usePath } from '../router';
import { DeploymentDetail } from './DeploymentDetail';
import { ACTIVE, D1, type Deployment, Stats } from './deployment-shared';
import { listReleases } from './Releases';

const POLL_MS = 2000;

export function Deployments() {
  const path = usePath();
  const id = path.startsWith('/deployments/') ? decodeURIComponent(path.slice('/deployments/'.length)) : '';
  return id ? <DeploymentDetail id={id} /> : <DeploymentList />;
}

function DeploymentList() {
  const list = useLoad(() => api<Deployment[]>('GET', `${D1}?per_page=50&sort=desc`), [], POLL_MS);
  const [message, setMessage] = useState<string>();

  const abort = async (d: Deployment) => {
    if (!window.confirm(`Abort deployment ${d.name}? Devices not yet done stop updating.`)) return;
    try {
      await api('PUT', `${D1}/${d.id}/status`, { status: 'aborted' });
      setMessage(`Deployment ${d.name} aborted.`);
    } catch (e) {
      setMessage(`Abort failed: ${e instanceof Error ? e.message : String(e)}`);
    }
    list.reload();
  };

  return (
    <section aria-labelledby="deployments-title">
      <h1 id="deployments-title">Deployments</h1>
      <CreateDeployment
        onCreated={(name) => {
          setMessage(`Deployment ${name} created.`);
          list.reload();
        }}
      />
      {message && <p role="status">{message}</p>}
      {list.error && (
        <p role="alert" className="error">
          {list.error}
        </p>
      )}
      {list.data?.length === 0 && (
        <div className="empty">
          <h2>No deployments yet</h2>
          <p>Upload an artifact under Releases, accept a device under Devices, then create a deployment above.</p>
        </div>
      )}
      {list.data && list.data.length > 0 && (
        <table aria-label="Deployments">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Release</th>
              <th scope="col">Target</th>
              <th scope="col">Status</th>
              <th scope="col">Devices</th>
              <th scope="col">Created</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {list.data.map((d) => (
              <tr key={d.id} data-deployment={d.id}>
                <th scope="row">
                  <a
                    href={`/ui/deployments/${d.id}`}
                    onClick={(e) => {
                      e.preventDefault();
                      navigate(`/deployments/${d.id}`);
                    }}
                  >
                    {d.name}
                  </a>
                </th>
                <td>{d.artifact_name}</td>
                <td>{d.groups?.length ? `group ${d.groups.join(', ')}` : `${d.device_count} device(s)`}</td>
                <td data-testid="deployment-status">
                  {d.status}
                  {d.paused ? ' (paused)' : ''}
                </td>
                <td>
                  <Stats stats={d.statistics?.status} />
                </td>
                <td>{new Date(d.created).toLocaleString()}</td>
                <td>
                  {ACTIVE.has(d.status) && (
                    <button type="button" className="danger" onClick={() => abort(d)}>
                      Abort
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function CreateDeployment({ onCreated }: { onCreated: (name: string) => void }) {
  const releases = useLoad(listReleases, []);
  const groups = useLoad(() => api<string[]>('GET', '/api/management/v1/inventory/groups'), []);
  const [release, setRelease] = useState('');
  const [target, setTarget] = useState('all');
  const [name, setName] = useState('');
  const [firstPhase, setFirstPhase] = useState('');
  const [secondStart, setSecondStart] = useState('');
  const [threshold, setThreshold] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const deploymentName = name || release;
    setBusy(true);
    setError(undefined);
    try {
      const body: Record<string, unknown> = { name: deploymentName, artifact_name: release };
      if (firstPhase) {
        // Two phases: the first at once, the rest at the chosen time; each pauses the rollout above the threshold.
        const limit = threshold ? { failure_threshold: Number(threshold) / 100 } : {};
        body.phases = [
          { batch_size: Number(firstPhase), ...limit },
          { start_ts: secondStart ? new Date(secondStart).toISOString() : undefined, ...limit },
        ];
      }
      if (target === 'all') await api('POST', D1, { ...body, all_devices: true });
      else await api('POST', `${D1}/group/${encodeURIComponent(target)}`, body);
      setName('');
      setFirstPhase('');
      setSecondStart('');
      setThreshold('');
      onCreated(deploymentName);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
    setBusy(false);
  };

  return (
    <form className="create" onSubmit={submit} aria-labelledby="create-title">
      <h2 id="create-title">New deployment</h2>
      <label>
        Release
        <select aria-label="Release" required value={release} onChange={(e) => setRelease(e.target.value)}>
          <option value="">Choose a release…</option>
          {releases.data?.map((r) => (
            <option key={r.Name} value={r.Name}>
              {r.Name}
            </option>
          ))}
        </select>
      </label>
      <label>
        Devices
        <select aria-label="Devices" value={target} onChange={(e) => setTarget(e.target.value)}>
          <option value="all">All accepted devices</option>
          {groups.data?.map((g) => (
            <option key={g} value={g}>
              Group {g}
            </option>
          ))}
        </select>
      </label>
      <label>
        Name
        <input
          aria-label="Name"
          value={name}
          placeholder={release || 'the release name'}
          onChange={(e) => setName(e.target.value)}
        />
      </label>
      <fieldset>
        <legend>Phased rollout (optional)</legend>
        <label>
          First phase (% of devices)
          <input type="number" min={1} max={99} value={firstPhase} onChange={(e) => setFirstPhase(e.target.value)} />
        </label>
        <label>
          Second phase starts
          <input
            type="datetime-local"
            step={1}
            required={firstPhase !== ''}
            value={secondStart}
            onChange={(e) => setSecondStart(e.target.value)}
          />
        </label>
        <label>
          Pause when failures exceed (% of a phase)
          <input type="number" min={1} max={100} value={threshold} onChange={(e) => setThreshold(e.target.value)} />
        </label>
      </fieldset>
      <button type="submit" disabled={busy || !release}>
        Create deployment
      </button>
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
    </form>
  );
}
