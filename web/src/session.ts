// The operator's session: the management JWT in sessionStorage (gone when the tab closes), and who to tell when it
// starts or ends. The token's own expiry ends the session on time, not only at the next 401.
type Listener = () => void;

const KEY = 'flotilla.token';
const listeners = new Set<Listener>();
let expiredNotice = false;
let timer: ReturnType<typeof setTimeout> | undefined;

function expiryOf(token: string): number | undefined {
  try {
    const payload = JSON.parse(atob(token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/'))) as { exp?: unknown };
    return typeof payload.exp === 'number' ? payload.exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

function schedule(token: string | null): void {
  clearTimeout(timer);
  const at = token ? expiryOf(token) : undefined;
  // setTimeout holds at most ~24.8 days; a later expiry is caught by the 401 instead.
  if (at !== undefined && at - Date.now() < 2 ** 31 - 1) timer = setTimeout(() => session.expire(), at - Date.now());
}

function notify(): void {
  for (const listener of listeners) listener();
}

export const session = {
  token: (): string | null => sessionStorage.getItem(KEY),
  start(token: string): void {
    sessionStorage.setItem(KEY, token);
    expiredNotice = false;
    schedule(token);
    notify();
  },
  end(): void {
    sessionStorage.removeItem(KEY);
    schedule(null);
    notify();
  },
  expire(): void {
    expiredNotice = true;
    session.end();
  },
  /** Whether the last session ended by itself (shown once on the login page). */
  takeExpiredNotice(): boolean {
    const was = expiredNotice;
    expiredNotice = false;
    return was;
  },
  subscribe(listener: Listener): () => void {
    listeners.add(listener);
    return () => listeners.delete(listener);
  },
  resume(): void {
    schedule(session.token());
  },
};
