// The operator UI's shell: the login page without a session, else the navigation and the current page.
import { StrictMode, useEffect, useSyncExternalStore } from 'react';
import { createRoot } from 'react-dom/client';
import { api } from './api';
import { AuditLog } from './pages/AuditLog';
import { Deployments } from './pages/Deployments';
import { Devices } from './pages/Devices';
import { Login } from './pages/Login';
import { Releases } from './pages/Releases';
import { Settings } from './pages/Settings';
import { BASE, navigate, usePath } from './router';
import { session } from './session';
import './styles.css';

const PAGES = [
  { path: '/devices', label: 'Devices', Page: Devices },
  { path: '/releases', label: 'Releases', Page: Releases },
  { path: '/deployments', label: 'Deployments', Page: Deployments },
  { path: '/audit', label: 'Audit log', Page: AuditLog },
  { path: '/settings', label: 'Settings', Page: Settings },
];

function App() {
  const token = useSyncExternalStore(session.subscribe, session.token);
  const path = usePath();
  useEffect(() => session.resume(), []);
  if (!token) return <Login />;
  const page = PAGES.find((p) => path === p.path || path.startsWith(`${p.path}/`));
  if (!page) {
    queueMicrotask(() => navigate('/devices'));
    return null;
  }
  const logout = async () => {
    // Revoke the token on the server; the session ends here whatever the answer.
    await api('POST', '/api/management/v1/useradm/auth/logout').catch(() => undefined);
    session.end();
  };
  return (
    <div className="layout">
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <span className="brand">Flotilla</span>
        <nav aria-label="Main">
          {PAGES.map((p) => (
            <a
              key={p.path}
              href={`${BASE}${p.path}`}
              aria-current={p === page ? 'page' : undefined}
              onClick={(e) => {
                e.preventDefault();
                navigate(p.path);
              }}
            >
              {p.label}
            </a>
          ))}
        </nav>
        <button type="button" className="secondary" onClick={logout}>
          Log out
        </button>
      </header>
      <main id="main" tabIndex={-1}>
        <page.Page />
      </main>
    </div>
  );
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
