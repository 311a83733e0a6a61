// Devices by admission status (pending / accepted / rejected / preauthorized, with counts), admitting or refusing
// a pending device, putting an accepted one into a static group, decommissioning, preauthorizing a device by its
// identity and public key, inventory columns the operator chooses, and what a newcomer does to get a first device.
import { type FormEvent, useState } from 'react';
import { api } from '../api';
import { useLoad } from '../hooks';
import { usePath } from '../router';
import { Alert, Head, Link, messageOf, OutcomeLine, text, useAction, when } from '../ui';
import { type ChosenColumn, Columns, useColumns } from './DeviceColumns';
import { DeviceFilter } from './DeviceFilter';
import { DevicePage } from './DevicePage';

const DEVAUTH = '/api/management/v2/devauth';
const STATUSES = ['pending', 'accepted', 'rejected', 'preauthorized'] as const;
type Status = (typeof STATUSES)[number];
const POLL_MS = 3000;

interface AuthSet {
  id: string;
  status: string;
  identity_data: Record<string, unknown>;
}
interface Device {
  id: string;
  status: string;
  identity_data: Record<string, unknown>;
  auth_sets?: AuthSet[];
  created_ts?: string;
  updated_ts?: string;
}

const identityText = (data: Record<string, unknown>) =>
  Object.entries(data)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(', ');

export function Devices() {
  const path = usePath();
  const id = path.startsWith('/devices/') ? decodeURIComponent(path.slice('/devices/'.length)) : '';
  return id ? <DevicePage id={id} /> : <DeviceList />;
}

function DeviceList() {
  const [tab, setTab] = useState<Status>('pending');
  const counts = useLoad(
    async () => {
      const all = await Promise.all(
        STATUSES.map((s) => api<{ count: number }>('GET', `${DEVAUTH}/devices/count?status=${s}`)),
      );
      return Object.fromEntries(STATUSES.map((s, i) => [s, all[i].count])) as Record<Status, number>;
    },
    [],
    POLL_MS,
  );
  const devices = useLoad(() => api<Device[]>('GET', `${DEVAUTH}/devices?status=${tab}&per_page=100`), [tab], POLL_MS);
  const [columns, setColumns] = useColumns();
  const shownColumns = tab === 'accepted' ? columns : [];
  const values = useColumnValues(devices.data, shownColumns);
  const { outcome, setOutcome, act } = useAction(() => {
    counts.reload();
    devices.reload();
  });
  const setAuthStatus = (device: Device, status: 'accepted' | 'rejected') => {
    const authSet = device.auth_sets?.find((a) => a.status === device.status) ?? device.auth_sets?.[0];
    if (!authSet) return;
    act(`Device ${device.id} ${status}.`, () =>
      api('PUT', `${DEVAUTH}/devices/${device.id}/auth/${authSet.id}/status`, { status }),
    );
  };
  const total = counts.data ? STATUSES.reduce((n, s) => n + counts.data![s], 0) : undefined;

  return (
    <section aria-labelledby="devices-title">
      <h1 id="devices-title">Devices</h1>
      <div role="tablist" aria-label="Device status" className="tabs">
        {STATUSES.map((s) => (
          <button
            key={s}
            type="button"
            role="tab"
            aria-selected={tab === s}
            onClick={() => {
              setTab(s);
              setOutcome(undefined);
            }}
          >
            {s[0].toUpperCase() + s.slice(1)} <span className="count">{counts.data?.[s] ?? '…'}</span>
          </button>
        ))}
      </div>
      {tab === 'accepted' && total !== 0 && <DeviceFilter />}
      {tab === 'accepted' && total !== 0 && <Columns chosen={columns} onChange={setColumns} />}
      {tab === 'preauthorized' && (
        <Preauthorize
          onDone={(message) => {
            setOutcome({ text: message, error: false });
            counts.reload();
            devices.reload();
          }}
        />
      )}
      <OutcomeLine outcome={outcome} />
      <Alert error={devices.error} />
      {total === 0 ? (
        <FirstDevice />
      ) : devices.data?.length === 0 ? (
        <p className="empty">No {tab} devices.</p>
      ) : (
        devices.data && (
          <table aria-label={`${tab} devices`}>
            <Head columns={['Device', 'Identity', ...shownColumns.map((c) => c.name), 'Last change', 'Actions']} />
            <tbody>
              {devices.data.map((d) => (
                <tr key={d.id} data-device={d.id}>
                  <td className="mono">
                    <Link to={`/devices/${d.id}`}>{d.id}</Link>
                  </td>
                  <td>{identityText(d.identity_data)}</td>
                  {shownColumns.map((c) => (
                    <td key={`${c.scope}:${c.name}`} data-column={c.name}>
                      {values.data?.[d.id]?.[`${c.scope}:${c.name}`] ?? ''}
                    </td>
                  ))}
                  <td>{when(d.updated_ts)}</td>
                  <td className="actions">
                    {d.status === 'pending' && (
                      <>
                        <button type="button" onClick={() => setAuthStatus(d, 'accepted')}>
                          Accept
                        </button>
                        <button type="button" className="danger" onClick={() => setAuthStatus(d, 'rejected')}>
                          Reject
                        </button>
                      </>
                    )}
                    {d.status !== 'pending' && (
                      <button
                        type="button"
                        className="danger"
                        onClick={() => {
                          if (window.confirm(`Decommission ${d.id}? Its data and tokens are removed.`)) {
                            act(`Device ${d.id} decommissioned.`, () => api('DELETE', `${DEVAUTH}/devices/${d.id}`));
                          }
                        }}
                      >
                        Decommission
                      </button>
                    )}
                    {d.status === 'accepted' && (
                      <GroupForm
                        device={d}
                        onSet={(group) =>
                          act(`Device ${d.id} is now in group ${group}.`, () =>
                            api('PUT', `/api/management/v1/inventory/devices/${d.id}/group`, { group }),
                          )
                        }
                      />
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )
      )}
    </section>
  );
}

function GroupForm({ device, onSet }: { device: Device; onSet: (group: string) => void }) {
  const [group, setGroup] = useState('');
  return (
    <form
      className="inline"
      onSubmit={(e) => {
        e.preventDefault();
        if (group) onSet(group);
      }}
    >
      <label>
        <span className="visually-hidden">Group for {device.id}</span>
        <input placeholder="group" value={group} pattern="[A-Za-z0-9_\-]+" onChange={(e) => setGroup(e.target.value)} />
      </label>
      <button type="submit" className="secondary">
        Set group
      </button>
    </form>
  );
}

/** The empty fleet: where to point a mender-client (this server's URL and the tenant token). */
function FirstDevice() {
  const tenant = useLoad(() => api<{ tenant_token: string }>('GET', '/api/management/v1/tenantadm/user/tenant'), []);
  return (
    <div className="empty">
      <h2>No devices yet</h2>
      <p>Point a mender-client at this server; it appears here as pending, and you accept it.</p>
      <dl>
        <dt>Server URL</dt>
        <dd className="mono">{window.location.origin}</dd>
        <dt>Tenant token</dt>
        <dd className="mono" data-testid="tenant-token">
          {tenant.data?.tenant_token ?? tenant.error ?? '…'}
        </dd>
      </dl>
      <p>
        In <code>/etc/mender/mender.conf</code>: <code>"ServerURL"</code> and <code>"TenantToken"</code> as above, then
        restart the client.
      </p>
    </div>
  );
}

/** Admits a device ahead of its first request: it is accepted as soon as it asks with this identity and key. */
function Preauthorize({ onDone }: { onDone: (message: string) => void }) {
  const [identity, setIdentity] = useState('');
  const [pubkey, setPubkey] = useState('');
  const [error, setError] = useState<string>();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(undefined);
    let identity_data: unknown;
    try {
      identity_data = JSON.parse(identity);
    } catch {
      setError('Identity must be a JSON object, e.g. {"mac": "02:00:00:00:00:01"}.');
      return;
    }
    try {
      await api('POST', `${DEVAUTH}/devices`, { identity_data, pubkey });
      setIdentity('');
      setPubkey('');
      onDone('Device preauthorized.');
    } catch (err) {
      setError(messageOf(err));
    }
  };
  return (
    <form className="create" onSubmit={submit} aria-labelledby="preauth-title">
      <h2 id="preauth-title">Preauthorize a device</h2>
      <label>
        Identity (JSON)
        <input
          required
          value={identity}
          placeholder='{"mac": "02:00:00:00:00:01"}'
          onChange={(e) => setIdentity(e.target.value)}
        />
      </label>
      <label>
        Public key (PEM)
        <textarea required rows={4} cols={50} value={pubkey} onChange={(e) => setPubkey(e.target.value)} />
      </label>
      <button type="submit">Preauthorize</button>
      <Alert error={error} />
    </form>
  );
}

/** The chosen columns' values of the listed devices, device id → `scope:name` → text, in one inventory search. */
function useColumnValues(devices: Device[] | undefined, columns: ChosenColumn[]) {
  const ids = (devices ?? []).map((d) => d.id);
  return useLoad(async () => {
    if (columns.length === 0 || ids.length === 0) return {};
    const found = await api<{ id: string; attributes?: { scope: string; name: string; value: unknown }[] }[]>(
      'POST',
      '/api/management/v2/inventory/filters/search',
      {
        device_ids: ids,
        per_page: ids.length,
        attributes: columns.map((c) => ({ scope: c.scope, attribute: c.name })),
      },
    );
    return Object.fromEntries(
      found.map((d) => [
        d.id,
        Object.fromEntries((d.attributes ?? []).map((a) => [`${a.scope}:${a.name}`, text(a.value)])),
      ]),
    ) as Record<string, Record<string, string>>;
  }, [ids.join(','), columns.map((c) => `${c.scope}:${c.name}`).join(',')]);
}
