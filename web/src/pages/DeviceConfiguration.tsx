// A device's configuration (Mender deviceconfig): what the operator configured beside what the device last
// reported, edited key by key, saved, and deployed as a configuration deployment (the device's mender-configure
// update module applies it).
import { useEffect, useState } from 'react';
import { api } from '../api';
import { useLoad } from '../hooks';
import { Alert, Head, Link, OutcomeLine, useAction, when } from '../ui';

const CONFIG = '/api/management/v1/deviceconfig/configurations/device';

interface DeviceConfiguration {
  configured: Record<string, string>;
  reported: Record<string, string>;
  deployment_id?: string;
  updated_ts?: string;
  reported_ts?: string;
}

export function DeviceConfiguration({ id }: { id: string }) {
  const config = useLoad(() => api<DeviceConfiguration>('GET', `${CONFIG}/${id}`), [id]);
  const [rows, setRows] = useState<[string, string][]>([]);
  const { outcome, act } = useAction(config.reload);
  // The editor starts from what is configured, and again after each save.
  useEffect(() => {
    if (config.data) setRows(Object.entries(config.data.configured));
  }, [config.data]);

  const map = () => Object.fromEntries(rows.filter(([k]) => k.trim() !== ''));
  const save = () => act('Configuration saved.', () => api('PUT', `${CONFIG}/${id}`, map()));
  const deploy = () =>
    act('Configuration saved and deployed.', async () => {
      await api('PUT', `${CONFIG}/${id}`, map());
      await api('POST', `${CONFIG}/${id}/deploy`, { retries: 0 });
    });
  const keys = [
    ...new Set([...Object.keys(config.data?.configured ?? {}), ...Object.keys(config.data?.reported ?? {})]),
  ];

  return (
    <section aria-labelledby="config-title">
      <h2 id="config-title">Configuration</h2>
      <Alert error={config.error} />
      {config.data && keys.length > 0 && (
        <table aria-label="Configuration">
          <Head columns={['Key', 'Configured', 'Reported']} />
          <tbody>
            {keys.map((k) => (
              <tr key={k}>
                <td>{k}</td>
                <td className="mono">{config.data!.configured[k] ?? ''}</td>
                <td className="mono">{config.data!.reported[k] ?? ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {config.data && (
        <p className="muted">
          {keys.length === 0 ? 'Nothing configured or reported yet. ' : ''}
          {config.data.reported_ts ? `Reported ${when(config.data.reported_ts)}. ` : 'The device has not reported. '}
          {config.data.deployment_id && (
            <Link to={`/deployments/${config.data.deployment_id}`}>The last configuration deployment</Link>
          )}
        </p>
      )}
      <form
        className="create"
        aria-label="Edit configuration"
        onSubmit={(e) => {
          e.preventDefault();
          save();
        }}
      >
        {rows.map(([k, v], i) => (
          // biome-ignore lint/suspicious/noArrayIndexKey: rows are edited in place; a key typed anew must keep focus
          <div className="inline" key={i}>
            <label>
              Key {i + 1}
              <input value={k} onChange={(e) => setRows(rows.map((r, j) => (j === i ? [e.target.value, r[1]] : r)))} />
            </label>
            <label>
              Value {i + 1}
              <input value={v} onChange={(e) => setRows(rows.map((r, j) => (j === i ? [r[0], e.target.value] : r)))} />
            </label>
            <button type="button" className="secondary" onClick={() => setRows(rows.filter((_, j) => j !== i))}>
              Remove key {i + 1}
            </button>
          </div>
        ))}
        <button type="button" className="secondary" onClick={() => setRows([...rows, ['', '']])}>
          Add key
        </button>
        <button type="submit">Save configuration</button>
        <button type="button" onClick={deploy}>
          Save and deploy
        </button>
      </form>
      <OutcomeLine outcome={outcome} />
    </section>
  );
}
