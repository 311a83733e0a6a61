// A device's remote terminal section: whether mender-connect holds its socket, and a button that opens a terminal
// session (TerminalSession, loaded only then: xterm.js is most of the UI's code).
import { lazy, Suspense, useState } from 'react';
import { api } from '../api';
import { useLoad } from '../hooks';
import { Alert } from '../ui';

export const CONNECT = '/api/management/v1/deviceconnect';
const TerminalSession = lazy(() => import('./TerminalSession'));

export function DeviceTerminal({ id }: { id: string }) {
  const state = useLoad(() => api<{ status: string }>('GET', `${CONNECT}/devices/${id}`), [id], 5000);
  const [open, setOpen] = useState(false);
  const connected = state.data?.status === 'connected';
  return (
    <section aria-labelledby="terminal-title">
      <h2 id="terminal-title">Remote terminal</h2>
      <Alert error={state.error} />
      {state.data && !connected && !open && (
        <p className="muted">
          The device is not connected: it needs mender-connect running beside its mender-client to open a terminal.
        </p>
      )}
      {connected && !open && (
        <button type="button" onClick={() => setOpen(true)}>
          Connect terminal
        </button>
      )}
      {open && (
        <Suspense fallback={<p role="status">Loading the terminal…</p>}>
          <TerminalSession id={id} onClose={() => setOpen(false)} />
        </Suspense>
      )}
    </section>
  );
}
