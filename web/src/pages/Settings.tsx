// Settings: the tenant token devices present, the tenant's users (list, add), the operator's own personal access
// tokens (create — shown once —, list, revoke), through the Mender useradm and tenantadm APIs, and the hawkBit DDI
// settings. Flotilla has no API for artifact signing keys (verification keys come from its configuration), so
// there is nothing to show for them here.
import { type FormEvent, useState } from 'react';
import { api, apiText } from '../api';
import { useLoad } from '../hooks';
import { Alert, Head, messageOf, type Outcome, OutcomeLine, when } from '../ui';
import { DdiSettings } from './DdiSettings';

const U = '/api/management/v1/useradm';

interface User {
  id: string;
  email: string;
  created_ts?: string;
}
interface AccessToken {
  id: string;
  name: string;
  expiration_date?: string;
  last_used?: string;
}

export function Settings() {
  const tenant = useLoad(() => api<{ tenant_token: string }>('GET', '/api/management/v1/tenantadm/user/tenant'), []);
  return (
    <section aria-labelledby="settings-title">
      <h1 id="settings-title">Settings</h1>
      <section aria-labelledby="tenant-title">
        <h2 id="tenant-title">Tenant token</h2>
        <p>Devices present this token when they ask to be admitted (mender.conf "TenantToken").</p>
        <p className="mono" data-testid="settings-tenant-token">
          {tenant.data?.tenant_token ?? tenant.error ?? '…'}
        </p>
      </section>
      <Users />
      <AccessTokens />
      <DdiSettings />
    </section>
  );
}

function Users() {
  const users = useLoad(() => api<User[]>('GET', `${U}/users`), []);
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [message, setMessage] = useState<Outcome>();
  const add = async (e: FormEvent) => {
    e.preventDefault();
    try {
      await api('POST', `${U}/users`, { email, password });
      setMessage({ text: `User ${email} added.`, error: false });
      setEmail('');
      setPassword('');
      users.reload();
    } catch (err) {
      setMessage({ text: messageOf(err), error: true });
    }
  };
  return (
    <section aria-labelledby="users-title">
      <h2 id="users-title">Users</h2>
      {users.data && (
        <table aria-label="Users">
          <Head columns={['Email', 'Created']} />
          <tbody>
            {users.data.map((u) => (
              <tr key={u.id}>
                <td>{u.email}</td>
                <td>{when(u.created_ts)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <form className="create" onSubmit={add}>
        <label>
          New user's email
          <input type="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
        </label>
        <label>
          New user's password
          <input
            type="password"
            autoComplete="new-password"
            required
            minLength={8}
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </label>
        <button type="submit">Add user</button>
      </form>
      <OutcomeLine outcome={message} />
    </section>
  );
}

function AccessTokens() {
  const tokens = useLoad(() => api<AccessToken[]>('GET', `${U}/settings/tokens`), []);
  const [name, setName] = useState('');
  const [days, setDays] = useState('30');
  const [created, setCreated] = useState<{ name: string; token: string }>();
  const [error, setError] = useState<string>();
  const create = async (e: FormEvent) => {
    e.preventDefault();
    setError(undefined);
    try {
      const token = await apiText('POST', `${U}/settings/tokens`, { name, expires_in: Number(days) * 86400 });
      setCreated({ name, token });
      setName('');
      tokens.reload();
    } catch (err) {
      setError(messageOf(err));
    }
  };
  const revoke = async (t: AccessToken) => {
    setError(undefined);
    try {
      await api('DELETE', `${U}/settings/tokens/${t.id}`);
      tokens.reload();
    } catch (err) {
      setError(messageOf(err));
    }
  };
  return (
    <section aria-labelledby="tokens-title">
      <h2 id="tokens-title">Personal access tokens</h2>
      <p>For scripts: send one as "Authorization: Bearer …" to any management API.</p>
      {tokens.data && tokens.data.length > 0 && (
        <table aria-label="Personal access tokens">
          <Head columns={['Name', 'Expires', 'Last used', 'Actions']} />
          <tbody>
            {tokens.data.map((t) => (
              <tr key={t.id}>
                <td>{t.name}</td>
                <td>{when(t.expiration_date)}</td>
                <td>{when(t.last_used)}</td>
                <td>
                  <button type="button" className="danger" onClick={() => revoke(t)}>
                    Revoke
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <form className="create" onSubmit={create}>
        <label>
          Token name
          <input required value={name} onChange={(e) => setName(e.target.value)} />
        </label>
        <label>
          Valid for (days)
          <input type="number" min={1} max={365} required value={days} onChange={(e) => setDays(e.target.value)} />
        </label>
        <button type="submit">Create token</button>
      </form>
      {created && (
        <div role="status" className="notice">
          <p>Token {created.name} created. Copy it now: it is not shown again.</p>
          <p className="mono" data-testid="new-token">
            {created.token}
          </p>
        </div>
      )}
      <Alert error={error} />
    </section>
  );
}
