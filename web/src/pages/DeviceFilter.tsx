// Searching devices by inventory: one attribute, an operator of the inventory search API ($eq … $regex), a value;
// the matches come from `POST /api/management/v2/inventory/filters/search`, so a script gets the same answer.
import { type FormEvent, useState } from 'react';
import { api } from '../api';
import { useLoad } from '../hooks';
import { navigate } from '../router';

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

/** The value as the API wants it for the operator: a list, a boolean, a number where the text is one. */
function valueFor(operator: Operator, text: string): unknown {
  if (operator === '$in' || operator === '$nin') return text.split(',').map((v) => v.trim());
  if (operator === '$exists') return text.trim() !== 'false';
  if (['$gt', '$gte', '$lt', '$lte'].includes(operator) && text.trim() !== '' && !Number.isNaN(Number(text))) {
    return Number(text);
  }
  return text;
}

export function DeviceFilter() {
  const attributes = useLoad(
    () => api<{ name: string; scope: string }[]>('GET', '/api/management/v2/inventory/filters/attributes'),
    [],
  );
  const [attribute, setAttribute] = useState('');
  const [operator, setOperator] = useState<Operator>('$eq');
  const [value, setValue] = useState('');
  const [found, setFound] = useState<Found[]>();
  const [error, setError] = useState<string>();

  const search = async (e: FormEvent) => {
    e.preventDefault();
    setError(undefined);
    const [scope, ...rest] = attribute.split(':');
    try {
      const filters = [{ scope, attribute: rest.join(':'), type: operator, value: valueFor(operator, value) }];
      setFound(await api<Found[]>('POST', '/api/management/v2/inventory/filters/search', { filters, per_page: 100 }));
    } catch (err) {
      setFound(undefined);
      setError(err instanceof Error ? err.message : String(err));
    }
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
          <input
            aria-label="Value"
            value={value}
            placeholder="a, b for $in"
            onChange={(e) => setValue(e.target.value)}
          />
        </label>
        <button type="submit">Search</button>
        {found && (
          <button type="button" className="secondary" onClick={() => setFound(undefined)}>
            Clear
          </button>
        )}
      </form>
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      {found && (
        <table aria-label="Matching devices">
          <caption>
            {found.length} matching device{found.length === 1 ? '' : 's'}
            {found.length === 100 ? ' (the first 100)' : ''}
          </caption>
          <thead>
            <tr>
              <th scope="col">Device</th>
              <th scope="col">Identity</th>
            </tr>
          </thead>
          <tbody>
            {found.map((d) => (
              <tr key={d.id}>
                <td className="mono">
                  <a
                    href={`/ui/devices/${d.id}`}
                    onClick={(e) => {
                      e.preventDefault();
                      navigate(`/devices/${d.id}`);
                    }}
                  >
                    {d.id}
                  </a>
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
