// The small pieces every page is built from: an in-app link, the error line, a table head, the status/error line an
// operator's action leaves behind (with the action runner that sets it), and a server list that shows itself, its
// error or its empty state.
import { type ReactNode, useState } from 'react';
import type { Loaded } from './hooks';
import { BASE, navigate } from './router';

export const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e));
export const when = (ts?: string) => (ts ? new Date(ts).toLocaleString() : '');
export const text = (value: unknown) => (typeof value === 'string' ? value : JSON.stringify(value));

/** A link inside the app: a real href (open in a new tab works), history navigation on a plain click. */
export function Link({ to, children, className }: { to: string; children: ReactNode; className?: string }) {
  return (
    <a
      href={`${BASE}${to}`}
      className={className}
      onClick={(e) => {
        if (e.ctrlKey || e.metaKey || e.shiftKey) return;
        e.preventDefault();
        navigate(to);
      }}
    >
      {children}
    </a>
  );
}

export function Alert({ error }: { error?: string }) {
  if (!error) return null;
  return (
    <p role="alert" className="error">
      {error}
    </p>
  );
}

export function Head({ columns }: { columns: string[] }) {
  return (
    <thead>
      <tr>
        {columns.map((c) => (
          <th key={c} scope="col">
            {c}
          </th>
        ))}
      </tr>
    </thead>
  );
}

export interface Outcome {
  text: string;
  error: boolean;
}

/** What the last action said: a status line, or an alert when it failed. */
export function OutcomeLine({ outcome }: { outcome?: Outcome }) {
  if (!outcome) return null;
  return (
    <p role={outcome.error ? 'alert' : 'status'} className={outcome.error ? 'error' : undefined}>
      {outcome.text}
    </p>
  );
}

/**
 * Runs an operator's action and keeps what it said: `label` on success, the API's error otherwise; `after` runs
 * either way (usually reloading what the action changed). Resolves to whether it succeeded.
 */
export function useAction(after?: () => void) {
  const [outcome, setOutcome] = useState<Outcome>();
  const act = async (label: string, call: () => Promise<unknown>): Promise<boolean> => {
    setOutcome(undefined);
    let ok = true;
    try {
      await call();
      setOutcome({ text: label, error: false });
    } catch (e) {
      ok = false;
      setOutcome({ text: `Failed: ${messageOf(e)}`, error: true });
    }
    after?.();
    return ok;
  };
  return { outcome, setOutcome, act };
}

/** A form's text fields as one state: `field(key)` gives an input its value and change handler. */
export function useFields<T extends Record<string, unknown>>(initial: T) {
  const [fields, setFields] = useState(initial);
  const field = (key: { [K in keyof T]: T[K] extends string ? K : never }[keyof T]) => ({
    value: fields[key] as string,
    onChange: (e: { target: { value: string } }) => setFields((f) => ({ ...f, [key]: e.target.value })),
  });
  return { fields, setFields, field };
}

/** A loaded list: its error, the empty state when it has nothing, else what `children` makes of it. */
export function ListOf<T>({
  loaded,
  empty,
  children,
}: {
  loaded: Loaded<T[]>;
  empty: ReactNode;
  children: (items: T[]) => ReactNode;
}) {
  return (
    <>
      <Alert error={loaded.error} />
      {loaded.data && (loaded.data.length === 0 ? empty : children(loaded.data))}
    </>
  );
}
