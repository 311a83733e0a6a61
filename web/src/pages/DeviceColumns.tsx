// The inventory columns an operator adds to the accepted devices list, chosen from the attributes devices report
// and kept in this browser's localStorage (a per-browser preference; Mender's GUI keeps it in useradm settings).
import { useState } from 'react';
import { api } from '../api';
import { useLoad } from '../hooks';

const KEY = 'flotilla.device-columns';

export interface ChosenColumn {
  scope: string;
  name: string;
}

function stored(): ChosenColumn[] {
  try {
    const value = JSON.parse(localStorage.getItem(KEY) ?? '[]') as unknown;
    return Array.isArray(value)
      ? value.filter((c): c is ChosenColumn => typeof c?.scope === 'string' && typeof c?.name === 'string')
      : [];
  } catch {
    return [];
  }
}

export function useColumns(): [ChosenColumn[], (columns: ChosenColumn[]) => void] {
  const [columns, setColumns] = useState(stored);
  const set = (next: ChosenColumn[]) => {
    localStorage.setItem(KEY, JSON.stringify(next));
    setColumns(next);
  };
  return [columns, set];
}

export function Columns({ chosen, onChange }: { chosen: ChosenColumn[]; onChange: (c: ChosenColumn[]) => void }) {
  // Read only once the operator opens the chooser: the list page itself does not need it.
  const [open, setOpen] = useState(false);
  const attributes = useLoad(
    () => (open ? api<ChosenColumn[]>('GET', '/api/management/v2/inventory/filters/attributes') : Promise.resolve([])),
    [open],
  );
  const isChosen = (a: ChosenColumn) => chosen.some((c) => c.scope === a.scope && c.name === a.name);
  return (
    <details className="columns" onToggle={(e) => setOpen(e.currentTarget.open)}>
      <summary>Columns</summary>
      <fieldset>
        <legend>Inventory columns shown for accepted devices</legend>
        {(attributes.data ?? [])
          .filter((a) => a.scope === 'inventory' || a.scope === 'identity' || a.scope === 'system')
          .map((a) => (
            <label key={`${a.scope}:${a.name}`} className="check">
              <input
                type="checkbox"
                checked={isChosen(a)}
                onChange={(e) =>
                  onChange(
                    e.target.checked
                      ? [...chosen, { scope: a.scope, name: a.name }]
                      : chosen.filter((c) => !(c.scope === a.scope && c.name === a.name)),
                  )
                }
              />
              {a.scope}: {a.name}
            </label>
          ))}
      </fieldset>
    </details>
  );
}
