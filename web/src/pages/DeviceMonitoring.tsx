// A device's monitoring (Mender devicemonitor): the latest alert of each check, and the checks the device says it
// runs. Devices post both; the operator reads them here.
import { api } from '../api';
import { useLoad } from '../hooks';
import { Head, ListOf, text, when } from '../ui';

const MONITOR = '/api/management/v1/devicemonitor/devices';

interface MonitorAlert {
  name: string;
  level: 'OK' | 'CRITICAL';
  subject: { name: string; type: string; status: string; details?: { description?: string } };
  timestamp: string;
}

export function DeviceMonitoring({ id }: { id: string }) {
  const alerts = useLoad(() => api<MonitorAlert[]>('GET', `${MONITOR}/${id}/alerts/latest?per_page=50`), [id], 10_000);
  const checks = useLoad(() => api<Record<string, unknown>[]>('GET', `${MONITOR}/${id}/config`), [id]);
  return (
    <section aria-labelledby="monitor-title">
      <h2 id="monitor-title">Monitoring</h2>
      <ListOf
        loaded={alerts}
        empty={<p className="muted">No alerts. A device running mender-monitor posts them here.</p>}
      >
        {(items) => (
          <table aria-label="Latest alerts">
            <Head columns={['Check', 'Level', 'Subject', 'Status', 'Details', 'When']} />
            <tbody>
              {items.map((a) => (
                <tr key={`${a.name}-${a.timestamp}`} className={a.level === 'CRITICAL' ? 'critical' : undefined}>
                  <td>{a.name}</td>
                  <td>{a.level}</td>
                  <td>
                    {a.subject.type} {a.subject.name}
                  </td>
                  <td>{a.subject.status}</td>
                  <td>{a.subject.details?.description ?? ''}</td>
                  <td>{when(a.timestamp)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </ListOf>
      <ListOf loaded={checks} empty={<p className="muted">The device has reported no monitoring checks.</p>}>
        {(items) => (
          <ul aria-label="Monitoring checks">
            {items.map((c) => (
              <li key={text(c)} className="mono">
                {text(c)}
              </li>
            ))}
          </ul>
        )}
      </ListOf>
    </section>
  );
}
