// Searching devices by inventory: one attribute, an operator of the inventory search API ($eq … $regex), a value;
// the matches come from `POST /api/management/v2/inventory/filters/search`, so a script gets the same answer. A
// search can be saved as a named filter (Mender's inventory v2 filters, a dynamic group: deployments can target
// it), and a saved filter run again or deleted.
import { type FormEvent, useState } from 'react';
import { api } from '../api';
import { useLoad } from '../hooks';
import { Alert, Head, Link, messageOf, OutcomeLine, useAction } from '../ui';

const V2 = '/api/management/v2/inventory/filters';
const OPERATORS = ['$eq', '$ne', '$gt', '$gte', '$lt', '$lte', '$in', '$nin', '$exists', '$regex'] as const;
type Operator = (typeof OPERATORS)[number];

interface Attribute {
  name: string;
  scope: string;
  value?: unknown;
}
interface Found {
  id: string;
  attributes?: Attribute[];
}
interface Term {
  scope: string;
  attribute: string;
  type: string;
  value: unknown;
}
export interface SavedFilter {
  id: string;
  name: string;
  terms: Term[];
}

export const listFilters = () => api<SavedFilter[]>('GET', `${V2}?per_page=500`);

/** The value as the API wants it for the operator: a list, a boolean, a number where the text is one. */
function valueFor(operator: Operator, text: string): unknown {
  if (operator === '$in' || operator === '$nin') return text.split(',').map((v) => v.trim());
  if (operator === '$exists') return text.trim() !== 'false';
  if (['$gt', '$gte', '$lt', '$lte'].includes(operator) && text.trim() !== '' && !Number.isNaN(Number(text))) {
    return Number(text);
  }
  return text;
}

const termText = (t: Term) => `${t.scope}:${t.attribute} ${t.type} ${JSON.stringify(t.value)}`;

export function DeviceFilter() {
  const attributes = useLoad(() => api<{ name: string; scope: string }[]>('GET', `${V2}/attributes`), []);
  const saved = useLoad(listFilters, []);
  const [attribute, setAttribute] = useState('');
  const [operator, setOperator] = useState<Operator>('$eq');
  const [value, setValue] = useState('');
  const [found, setFound] = useState<{ title: string; devices: Found[] }>();
  const [terms, setTerms] = useState<Term[]>();
  const [error, setError] = useState<string>();
  const [name, setName] = useState('');
  const { outcome, act } = useAction(saved.reload);

  const run = async (title: string, search: () => Promise<Found[]>) => {
    setError(undefined);
    try {
      setFound({ title, devices: await search() });
    } catch (err) {
      setFound(undefined);
      setError(messageOf(err));
    }
  };
  const search = (e: FormEvent) => {
    e.preventDefault();
    const [scope, ...rest] = attribute.split(':');
    const filters = [{ scope, attribute: rest.join(':'), type: operator, value: valueFor(operator, value) }];
    setTerms(filters);
    run('matching', () => api<Found[]>('POST', `${V2}/search`, { filters, per_page: 100 }));
  };
  const shown = (d: Found) =>
    (d.attributes ?? [])
      .filter((a) => a.scope === 'identity' && a.name !== 'status')
      .map((a) => `${a.name}=${typeof a.value === 'string' ? a.value : JSON.stringify(a.value)}`)
      .join(', ');

  return (
    <section aria-labelledby="filter-title" className="filter">
      <form className="create" onSubmit={search}>
        <h2 id="filter-title">Filter by inventory</h2>
        <label>
          Attribute
          <select aria-label="Attribute" required value={attribute} onChange={(e) => setAttribute(e.target.value)}>
            <option value="">Choose…</option>
            {attributes.data?.map((a) => (
              <option key={`${a.scope}:${a.name}`} value={`${a.scope}:${a.name}`}>
                {a.scope}: {a.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          Operator
          <select aria-label="Operator" value={operator} onChange={(e) => setOperator(e.target.value as Operator)}>
            {OPERATORS.map((o) => (
              <option key={o} value={o}>
                {o}
              </option>
            ))}
          </select>
        </label>
        <label>
          Value
          <input value={value} placeholder="a, b for $in" onChange={(e) => setValue(e.target.value)} />
        </label>
        <button type="submit">Search</button>
        {found && (
          <button type="button" className="secondary" onClick={() => setFound(undefined)}>
            Clear
          </button>
        )}
      </form>
      {terms && found?.title === 'matching' && (
        <form
          className="inline"
          onSubmit={(e) => {
            e.preventDefault();
            act(`Filter ${name} saved.`, () => api('POST', V2, { name, terms })).then((ok) => ok && setName(''));
          }}
        >
          <label>
            Save this filter as
            <input required value={name} onChange={(e) => setName(e.target.value)} />
          </label>
          <button type="submit" className="secondary">
            Save filter
          </button>
        </form>
      )}
      {saved.data && saved.data.length > 0 && (
        <table aria-label="Saved filters">
          <Head columns={['Saved filter', 'Terms', 'Actions']} />
          <tbody>
            {saved.data.map((f) => (
              <tr key={f.id}>
                <td>{f.name}</td>
                <td className="mono">{f.terms.map(termText).join(' and ')}</td>
                <td className="actions">
                  <button
                    type="button"
                    className="secondary"
                    onClick={() => run(`in ${f.name}`, () => api<Found[]>('GET', `${V2}/${f.id}/search?per_page=100`))}
                  >
                    Show devices in {f.name}
                  </button>
                  <button
                    type="button"
                    className="danger"
                    onClick={() => act(`Filter ${f.name} deleted.`, () => api('DELETE', `${V2}/${f.id}`))}
                  >
                    Delete {f.name}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <OutcomeLine outcome={outcome} />
      <Alert error={error ?? saved.error} />
      {found && (
        <table aria-label="Matching devices">
          <caption>
            {found.title === 'matching'
              ? `${found.devices.length} matching device${found.devices.length === 1 ? '' : 's'}`
              : `${found.devices.length} device${found.devices.length === 1 ? '' : 's'} ${found.title}`}
            {found.devices.length === 100 ? ' (the first 100)' : ''}
          </caption>
          <Head columns={['Device', 'Identity']} />
          <tbody>
            {found.devices.map((d) => (
              <tr key={d.id}>
                <td className="mono">
                  <Link to={`/devices/${d.id}`}>{d.id}</Link>
                </td>
                <td>{shown(d)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
