// One device: identity, the protocols it speaks, authentication sets, the software it reports installed (the
// inventory's `*.version` attributes and artifact_name, as Mender devices report their provides), inventory,
// configuration, monitoring alerts, a remote terminal, and its deployment history with each attempt's log.
import { api } from '../api';
import { useLoad } from '../hooks';
import { Alert, Head, Link, text, when } from '../ui';
import { DeviceConfiguration } from './DeviceConfiguration';
import { DeviceMonitoring } from './DeviceMonitoring';
import { DeviceTerminal } from './DeviceTerminal';
import { useDeviceLog } from './deployment-shared';

interface AuthSet {
  id: string;
  status: string;
  pubkey?: string;
  ts?: string;
}
interface Device {
  id: string;
  status: string;
  identity_data: Record<string, unknown>;
  auth_sets?: AuthSet[];
  check_in_time?: string;
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

const isSoftware = (a: Attribute) => a.name === 'artifact_name' || a.name.endsWith('.version');

/**
 * The protocol an auth set speaks, from the public `pubkey` field: a hawkBit DDI target or a Kanto thing is admitted
 * with a face name there (`ddi:…`, `kanto:…`, see devices/service.ts admitFace), a Mender client with a PEM key.
 */
export function protocolOf(authSet: { pubkey?: string }): string {
  const key = authSet.pubkey ?? '';
  if (key.startsWith('ddi:')) return 'hawkBit DDI';
  if (key.startsWith('kanto:')) return 'Kanto';
  return 'Mender';
}

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
  const logs = useDeviceLog();
  const attributes = [...(inventory.data?.attributes ?? [])].sort(
    (a, b) => (a.scope ?? '').localeCompare(b.scope ?? '') || a.name.localeCompare(b.name),
  );
  const software = attributes.filter(isSoftware);
  const protocols = [...new Set((device.data?.auth_sets ?? []).map(protocolOf))];
  const speaksMender = protocols.includes('Mender');

  return (
    <section aria-labelledby="device-title">
      <p>
        <Link to="/devices">← All devices</Link>
      </p>
      <h1 id="device-title">
        Device <span className="mono">{id}</span>
      </h1>
      <Alert error={device.error ?? logs.error} />
      {device.data && (
        <section aria-labelledby="identity-title">
          <h2 id="identity-title">Identity</h2>
          <dl className="facts">
            <dt>Status</dt>
            <dd>{device.data.status}</dd>
            <dt>Protocol</dt>
            <dd data-testid="device-protocol">{protocols.join(', ') || 'none yet'}</dd>
            {Object.entries(device.data.identity_data).map(([k, v]) => [
              <dt key={`k-${k}`}>{k}</dt>,
              <dd key={`v-${k}`} className="mono">
                {text(v)}
              </dd>,
            ])}
            <dt>Authentication sets</dt>
            <dd>{(device.data.auth_sets ?? []).map((a) => `${protocolOf(a)}: ${a.status}`).join(', ') || 'none'}</dd>
            <dt>Last check-in</dt>
            <dd>{when(device.data.check_in_time) || 'never'}</dd>
          </dl>
        </section>
      )}
      <section aria-labelledby="software-title">
        <h2 id="software-title">Installed software</h2>
        {software.length === 0 ? (
          <p className="muted">Not reported yet.</p>
        ) : (
          <dl className="facts">
            {software.map((a) => [
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
            <Head columns={['Scope', 'Attribute', 'Value']} />
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
      {device.data?.status === 'accepted' && (
        <>
          <DeviceConfiguration id={id} />
          <DeviceMonitoring id={id} />
          {speaksMender && <DeviceTerminal id={id} />}
        </>
      )}
      <section aria-labelledby="history-title">
        <h2 id="history-title">Deployment history</h2>
        {history.data?.length === 0 && <p className="muted">No deployment has reached this device yet.</p>}
        {history.data && history.data.length > 0 && (
          <table aria-label="Deployment history">
            <Head columns={['Deployment', 'Release', 'Status', 'Finished', 'Log']} />
            <tbody>
              {history.data.map((h) => (
                <tr key={h.id}>
                  <td>{h.deployment && <Link to={`/deployments/${h.deployment.id}`}>{h.deployment.name}</Link>}</td>
                  <td>{h.deployment?.artifact_name}</td>
                  <td>{h.device.status}</td>
                  <td>{when(h.device.finished)}</td>
                  <td>{h.device.log && h.deployment && logs.button(h.deployment.id, id, h.deployment.name)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      {logs.panel}
    </section>
  );
}
