// One device: identity and authentication sets, inventory, the software it reports installed (the inventory's
// `*.version` attributes and artifact_name, as Mender devices report their provides), and its deployment
// history with each attempt's log.
import { useState } from 'react';
import { api, apiText } from '../api';
import { useLoad } from '../hooks';
import { navigate } from '../router';
import { LogPanel } from './deployment-shared';

interface AuthSet {
  id: string;
  status: string;
  ts?: string;
}
interface Device {
  id: string;
  status: string;
  identity_data: Record<string, unknown>;
  auth_sets?: AuthSet[];
}
interface Attribute {
  name: string;
  value: unknown;
  scope?: string;
}
interface HistoryEntry {
  id: string;
  deployment?: { id: string; name: string; artifact_name: string };
  device: { id: string; status: string; finished?: string; created?: string; log?: boolean; attempts?: number };
}

const text = (value: unknown) => (typeof value === 'string' ? value : JSON.stringify(value));
const isSoftware = (a: Attribute) => a.name === 'artifact_name' || a.name.endsWith('.version');

export function DevicePage({ id }: { id: string }) {
  const device = useLoad(() => api<Device>('GET', `/api/management/v2/devauth/devices/${id}`), [id], 5000);
  const inventory = useLoad(
    () =>
      api<{ attributes?: Attribute[] }>('GET', `/api/management/v1/inventory/devices/${id}`).catch(() => ({
        attributes: [],
      })),
    [id],
    5000,
  );
  const history = useLoad(
    () => api<HistoryEntry[]>('GET', `/api/management/v1/deployments/deployments/devices/${id}?per_page=20`),
    [id],
    5000,
  );
  const [log, setLog] = useState<{ deployment: string; text: string }>();
  const [error, setError] = useState<string>();
  const attributes = [...(inventory.data?.attributes ?? [])].sort(
    (a, b) => (a.scope ?? '').localeCompare(b.scope ?? '') || a.name.localeCompare(b.name),
  );

  return (
    <section aria-labelledby="device-title">
      <p>
        <a
          href="/ui/devices"
          onClick={(e) => {
            e.preventDefault();
            navigate('/devices');
          }}
        >
          ← All devices
        </a>
      </p>
      <h1 id="device-title">
        Device <span className="mono">{id}</span>
      </h1>
      {(device.error || error) && (
        <p role="alert" className="error">
          {device.error ?? error}
        </p>
      )}
      {device.data && (
        <section aria-labelledby="identity-title">
          <h2 id="identity-title">Identity</h2>
          <dl className="facts">
            <dt>Status</dt>
            <dd>{device.data.status}</dd>
            {Object.entries(device.data.identity_data).map(([k, v]) => [
              <dt key={`k-${k}`}>{k}</dt>,
              <dd key={`v-${k}`} className="mono">
                {text(v)}
              </dd>,
            ])}
            <dt>Authentication sets</dt>
            <dd>{(device.data.auth_sets ?? []).map((a) => a.status).join(', ') || 'none'}</dd>
          </dl>
        </section>
      )}
      <section aria-labelledby="software-title">
        <h2 id="software-title">Installed software</h2>
        {attributes.filter(isSoftware).length === 0 ? (
          <p className="muted">Not reported yet.</p>
        ) : (
          <dl className="facts">
            {attributes
              .filter(isSoftware)
              .map((a) => [
                <dt key={`k-${a.scope}-${a.name}`}>{a.name}</dt>,
                <dd key={`v-${a.scope}-${a.name}`}>{text(a.value)}</dd>,
              ])}
          </dl>
        )}
      </section>
      <section aria-labelledby="inventory-title">
        <h2 id="inventory-title">Inventory</h2>
        {attributes.length === 0 ? (
          <p className="muted">The device has reported no inventory yet.</p>
        ) : (
          <table aria-label="Inventory">
            <thead>
              <tr>
                <th scope="col">Scope</th>
                <th scope="col">Attribute</th>
                <th scope="col">Value</th>
              </tr>
            </thead>
            <tbody>
              {attributes.map((a) => (
                <tr key={`${a.scope}-${a.name}`}>
                  <td>{a.scope ?? ''}</td>
                  <td>{a.name}</td>
                  <td className="mono">{text(a.value)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      <section aria-labelledby="history-title">
        <h2 id="history-title">Deployment history</h2>
        {history.data?.length === 0 && <p className="muted">No deployment has reached this device yet.</p>}
        {history.data && history.data.length > 0 && (
          <table aria-label="Deployment history">
            <thead>
              <tr>
                <th scope="col">Deployment</th>
                <th scope="col">Release</th>
                <th scope="col">Status</th>
                <th scope="col">Finished</th>
                <th scope="col">Log</th>
              </tr>
            </thead>
            <tbody>
              {history.data.map((h) => (
                <tr key={h.id}>
                  <td>
                    {h.deployment && (
                      <a
                        href={`/ui/deployments/${h.deployment.id}`}
                        onClick={(e) => {
                          e.preventDefault();
                          navigate(`/deployments/${h.deployment!.id}`);
                        }}
                      >
                        {h.deployment.name}
                      </a>
                    )}
                  </td>
                  <td>{h.deployment?.artifact_name}</td>
                  <td>{h.device.status}</td>
                  <td>{h.device.finished ? new Date(h.device.finished).toLocaleString() : ''}</td>
                  <td>
                    {h.device.log && h.deployment && (
                      <button
                        type="button"
                        className="secondary"
                        onClick={() =>
                          apiText(
                            'GET',
                            `/api/management/v1/deployments/deployments/${h.deployment!.id}/devices/${id}/log`,
                          ).then(
                            (t) => setLog({ deployment: h.deployment!.name, text: t }),
                            (e: unknown) => setError(e instanceof Error ? e.message : String(e)),
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
      </section>
      {log && <LogPanel of={log.deployment} text={log.text} onClose={() => setLog(undefined)} />}
    </section>
  );
}
