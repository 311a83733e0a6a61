// The audit log (Mender's auditlogs API): who changed what and when, newest first, filtered by object type and by
// the actor's email, a page at a time, and exported whole as CSV with the same filters.
import { useState } from 'react';
import { api } from '../api';
import { useLoad } from '../hooks';
import { session } from '../session';
import { Head, ListOf, when } from '../ui';

const LOGS = '/api/management/v1/auditlogs/logs';
const EXPORT = `${LOGS}/export`;
const PER_PAGE = 50;
const OBJECT_TYPES = ['user', 'deployment', 'artifact', 'device', 'personal_access_token', 'release', 'tenant'];

interface AuditLogEntry {
  actor: { id: string; type: string; email?: string };
  time: string;
  action: string;
  object: { id: string; type: string; user?: { email?: string }; deployment?: { name?: string } };
  change?: string;
}

const objectText = (o: AuditLogEntry['object']) => `${o.type} ${o.user?.email ?? o.deployment?.name ?? o.id}`;

/**
 * The server streams the export (every matching entry, page by page), so the browser downloads it itself rather than
 * holding it in memory. A download carries no bearer token: the session's JWT rides in a cookie scoped to the export
 * path for a few seconds (the server takes the cookie on GET and HEAD only).
 */
function exportCsv(filters: URLSearchParams) {
  // biome-ignore lint/suspicious/noDocumentCookie: the Cookie Store API is not in every browser the UI supports
  document.cookie = `JWT=${session.token()}; path=${EXPORT}; max-age=10; samesite=strict${
    location.protocol === 'https:' ? '; secure' : ''
  }`;
  const link = document.createElement('a');
  link.href = `${EXPORT}?${filters}`;
  link.download = 'auditlogs.csv';
  link.click();
}

export function AuditLog() {
  const [objectType, setObjectType] = useState('');
  const [email, setEmail] = useState('');
  const [page, setPage] = useState(1);
  const filters = new URLSearchParams();
  if (objectType) filters.set('object_type', objectType);
  if (email) filters.set('actor_email', email);
  const query = new URLSearchParams({ per_page: String(PER_PAGE), page: String(page), ...Object.fromEntries(filters) });
  const logs = useLoad(() => api<AuditLogEntry[]>('GET', `${LOGS}?${query}`), [query.toString()]);

  return (
    <section aria-labelledby="audit-title">
      <h1 id="audit-title">Audit log</h1>
      <form className="create" aria-label="Audit log filters" onSubmit={(e) => e.preventDefault()}>
        <label>
          Object type
          <select
            aria-label="Object type"
            value={objectType}
            onChange={(e) => {
              setObjectType(e.target.value);
              setPage(1);
            }}
          >
            <option value="">Any</option>
            {OBJECT_TYPES.map((t) => (
              <option key={t} value={t}>
                {t.replace(/_/g, ' ')}
              </option>
            ))}
          </select>
        </label>
        <label>
          Actor's email
          <input
            value={email}
            onChange={(e) => {
              setEmail(e.target.value);
              setPage(1);
            }}
          />
        </label>
        <button type="button" className="secondary" onClick={() => exportCsv(filters)}>
          Export CSV
        </button>
      </form>
      <ListOf loaded={logs} empty={<p className="empty">No audit entries match.</p>}>
        {(items) => (
          <table aria-label="Audit log">
            <Head columns={['Time', 'Actor', 'Action', 'Object', 'Change']} />
            <tbody>
              {items.map((entry, i) => (
                // biome-ignore lint/suspicious/noArrayIndexKey: entries have no id; a row holds no state
                <tr key={`${entry.time}-${i}`}>
                  <td>{when(entry.time)}</td>
                  <td>{entry.actor.email ?? `${entry.actor.type} ${entry.actor.id}`}</td>
                  <td>{entry.action}</td>
                  <td>{objectText(entry.object)}</td>
                  <td className="mono">{entry.change ?? ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </ListOf>
      <nav aria-label="Audit log pages" className="actions">
        <button type="button" className="secondary" disabled={page === 1} onClick={() => setPage(page - 1)}>
          Newer
        </button>
        <span>Page {page}</span>
        <button
          type="button"
          className="secondary"
          disabled={(logs.data?.length ?? 0) < PER_PAGE}
          onClick={() => setPage(page + 1)}
        >
          Older
        </button>
      </nav>
    </section>
  );
}
