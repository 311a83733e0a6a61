// A tiny history-API router: the UI has a handful of flat pages under /ui/, not worth a routing library.
import { useEffect, useState } from 'react';

export const BASE = '/ui';

export function navigate(path: string): void {
  window.history.pushState(null, '', `${BASE}${path}`);
  window.dispatchEvent(new PopStateEvent('popstate'));
}

/** The current page path below /ui (e.g. `/devices`). */
export function usePath(): string {
  const [path, setPath] = useState(() => window.location.pathname.slice(BASE.length) || '/');
  useEffect(() => {
    const update = () => setPath(window.location.pathname.slice(BASE.length) || '/');
    window.addEventListener('popstate', update);
    return () => window.removeEventListener('popstate', update);
  }, []);
  return path;
}
