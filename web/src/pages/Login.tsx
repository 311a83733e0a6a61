// Logging in with the Mender login endpoint (Basic credentials → a JWT kept for this tab).
import { type FormEvent, useState } from 'react';
import { login } from '../api';
import { session } from '../session';

export function Login() {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const [expired] = useState(() => session.takeExpiredNotice());

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      session.start(await login(email, password));
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
      setBusy(false);
    }
  };

  return (
    <main className="login">
      <form onSubmit={submit} aria-labelledby="login-title">
        <h1 id="login-title">Flotilla</h1>
        {expired && <p className="notice">Your session has ended. Log in again.</p>}
        <label>
          Email
          <input
            type="email"
            autoComplete="username"
            required
            value={email}
            onChange={(e) => setEmail(e.target.value)}
          />
        </label>
        <label>
          Password
          <input
            type="password"
            autoComplete="current-password"
            required
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </label>
        {error && (
          <p role="alert" className="error">
            {error}
          </p>
        )}
        <button type="submit" disabled={busy}>
          {busy ? 'Logging in…' : 'Log in'}
        </button>
        <p className="hint">
          First run? The server creates its first admin from FLOTILLA_ADMIN_EMAIL and FLOTILLA_ADMIN_PASSWORD, or run{' '}
          <code>flotilla user create --email E --password P</code>.
        </p>
      </form>
    </main>
  );
}
