// The one way the UI talks to Flotilla: its public management APIs with the session's bearer token. A 401 ends the
// session (expired or revoked token) and sends the operator back to the login page.
import { session } from './session';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Mender's error shape is `{error, request_id}`; anything else is shown as the status line. */
async function errorOf(res: Response): Promise<ApiError> {
  let message = `${res.status} ${res.statusText}`;
  try {
    const body = (await res.json()) as { error?: unknown };
    if (typeof body.error === 'string') message = body.error;
  } catch {
    // not JSON: keep the status line
  }
  return new ApiError(res.status, message);
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const text = await apiText(method, path, body);
  return (text ? JSON.parse(text) : undefined) as T;
}

/** The answer's body as text (e.g. a device's deployment log). */
export async function apiText(method: string, path: string, body?: unknown): Promise<string> {
  const headers: Record<string, string> = {};
  const token = session.token();
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (res.status === 401 && token) {
    session.expire();
    throw new ApiError(401, 'Your session has ended: log in again.');
  }
  if (!res.ok) throw await errorOf(res);
  return res.text();
}

/** Mender's login: Basic credentials in, the bare JWT out. */
export async function login(email: string, password: string): Promise<string> {
  const res = await fetch('/api/management/v1/useradm/auth/login', {
    method: 'POST',
    headers: { authorization: `Basic ${btoa(unescape(encodeURIComponent(`${email}:${password}`)))}` },
  });
  if (!res.ok) throw await errorOf(res);
  return res.text();
}

/** A multipart upload with progress (fetch reports none for request bodies), as `POST .../artifacts` wants it. */
export function uploadArtifact(file: File, onProgress: (fraction: number) => void): Promise<void> {
  const form = new FormData();
  form.append('size', String(file.size));
  form.append('artifact', file, file.name);
  return uploadForm('/api/management/v1/deployments/artifacts', form, onProgress);
}

/** POSTs a multipart form with upload progress; the API's error message on failure. */
export function uploadForm(path: string, form: FormData, onProgress: (fraction: number) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', path);
    const token = session.token();
    if (token) xhr.setRequestHeader('authorization', `Bearer ${token}`);
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) onProgress(e.loaded / e.total);
    };
    xhr.onerror = () => reject(new ApiError(0, 'the upload failed: network error'));
    xhr.onload = () => {
      if (xhr.status === 401 && token) session.expire();
      if (xhr.status >= 200 && xhr.status < 300) return resolve();
      let message = `${xhr.status} ${xhr.statusText}`;
      try {
        const body = JSON.parse(xhr.responseText) as { error?: unknown };
        if (typeof body.error === 'string') message = body.error;
      } catch {
        // not JSON
      }
      reject(new ApiError(xhr.status, message));
    };
    xhr.send(form);
  });
}
