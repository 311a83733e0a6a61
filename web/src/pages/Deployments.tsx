// Deployments: the list with live status and per-status device counts (polled while the page is visible, no reload
// needed) and aborting one; creating one is DeploymentWizard, one deployment's page DeploymentDetail.
import { api } from '../api';
import { useLoad } from '../hooks';
import { usePath } from '../router';
import { Head, Link, ListOf, OutcomeLine, useAction, when } from '../ui';
import { DeploymentDetail } from './DeploymentDetail';
import { DeploymentWizard } from './DeploymentWizard';
import { ACTIVE, D1, type Deployment, Stats } from './deployment-shared';

const POLL_MS = 2000;

export function Deployments() {
  const path = usePath();
  const id = path.startsWith('/deployments/') ? decodeURIComponent(path.slice('/deployments/'.length)) : '';
  return id ? <DeploymentDetail id={id} /> : <DeploymentList />;
}

const targetText = (d: Deployment) =>
  d.groups?.length
    ? `group ${d.groups.join(', ')}`
    : d.filter?.name
      ? `filter ${d.filter.name}`
      : `${d.device_count} device(s)`;

function DeploymentList() {
  const list = useLoad(() => api<Deployment[]>('GET', `${D1}?per_page=50&sort=desc`), [], POLL_MS);
  const { outcome, setOutcome, act } = useAction(list.reload);

  const abort = (d: Deployment) => {
    if (!window.confirm(`Abort deployment ${d.name}? Devices not yet done stop updating.`)) return;
    act(`Deployment ${d.name} aborted.`, () => api('PUT', `${D1}/${d.id}/status`, { status: 'aborted' }));
  };

  return (
    <section aria-labelledby="deployments-title">
      <h1 id="deployments-title">Deployments</h1>
      <DeploymentWizard
        onCreated={(name) => {
          setOutcome({ text: `Deployment ${name} created.`, error: false });
          list.reload();
        }}
      />
      <OutcomeLine outcome={outcome} />
      <ListOf
        loaded={list}
        empty={
          <div className="empty">
            <h2>No deployments yet</h2>
            <p>Upload an artifact under Releases, accept a device under Devices, then create a deployment above.</p>
          </div>
        }
      >
        {(items) => (
          <table aria-label="Deployments">
            <Head columns={['Name', 'Release', 'Target', 'Status', 'Devices', 'Created', 'Actions']} />
            <tbody>
              {items.map((d) => (
                <tr key={d.id} data-deployment={d.id}>
                  <th scope="row">
                    <Link to={`/deployments/${d.id}`}>{d.name}</Link>
                  </th>
                  <td>{d.artifact_name}</td>
                  <td>{targetText(d)}</td>
                  <td data-testid="deployment-status">
                    {d.status}
                    {d.paused ? ' (paused)' : ''}
                  </td>
                  <td>
                    <Stats stats={d.statistics?.status} />
                  </td>
                  <td>{when(d.created)}</td>
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
      </ListOf>
    </section>
  );
}
