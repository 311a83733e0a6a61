// A local HTTP twin of the D-Bus SetUpdateControlMap, for device applications without D-Bus. Binds 127.0.0.1 by
// default: whoever can reach it can pause or fail updates, so it must not face the network.
//
// Routes (JSON in and out; errors are {"error": message}):
//   PUT|POST /v1/update-control-map        body: the map        → 200 {"refresh_timeout": seconds}
//                                                                 400 invalid JSON or map (nothing changed), 413 > 64 KiB,
//                                                                 415 a content type other than JSON
//   GET      /v1/update-control-maps                            → 200 {"refresh_timeout", "maps": [{id, priority,
//                                                                  states, expired, expires_at}]}
//   DELETE   /v1/update-control-map/{id}?priority=N             → 204; same as setting that id and priority with empty
//                                                                  states (priority defaults to 0)
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DomainError, Invalid, TooLarge } from '../../errors.js';
import type { UpdateControl } from './update-control.js';

export const maxMapBytes = 64 * 1024;

export interface HttpServeOptions {
  host?: string;
  /** 0 picks a free port. */
  port?: number;
}

export interface HttpUpdateControl {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

class HttpError extends DomainError {}

function send(res: ServerResponse, status: number, body?: unknown): void {
  if (body === undefined) {
    res.writeHead(status).end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const type = req.headers['content-type'];
  if (type !== undefined && !/^application\/([\w.+-]+\+)?json\s*(;|$)/i.test(type)) {
    throw new HttpError('content type must be application/json', 415);
  }
  if (Number(req.headers['content-length'] ?? 0) > maxMapBytes) throw new TooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > maxMapBytes) throw new TooLarge();
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function route(control: UpdateControl, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const method = req.method ?? 'GET';
  if (url.pathname === '/v1/update-control-map') {
    if (method !== 'PUT' && method !== 'POST') throw new HttpError(`method ${method} not allowed`, 405);
    const refresh = control.setLocalJson(await readBody(req));
    return send(res, 200, { refresh_timeout: refresh });
  }
  if (url.pathname === '/v1/update-control-maps') {
    if (method !== 'GET') throw new HttpError(`method ${method} not allowed`, 405);
    return send(res, 200, { refresh_timeout: control.refreshIntervalSeconds, maps: control.maps() });
  }
  const single = /^\/v1\/update-control-map\/([^/]+)$/.exec(url.pathname);
  if (single) {
    if (method !== 'DELETE') throw new HttpError(`method ${method} not allowed`, 405);
    const priorityText = url.searchParams.get('priority') ?? '0';
    if (!/^-?\d{1,3}$/.test(priorityText)) throw new Invalid('priority must be an integer');
    control.set({ id: decodeURIComponent(single[1]), priority: Number(priorityText), states: {} }, 'local');
    return send(res, 204);
  }
  throw new HttpError('not found', 404);
}

/** Serves the local API for `control`; resolves once listening. */
export async function serveUpdateControlHttp(
  control: UpdateControl,
  options: HttpServeOptions = {},
): Promise<HttpUpdateControl> {
  const host = options.host ?? '127.0.0.1';
  const server = createServer((req, res) => {
    route(control, req, res).catch((error: unknown) => {
      const status = error instanceof DomainError ? error.status : 500;
      const message = error instanceof DomainError ? error.message : 'internal error';
      if (res.headersSent) return res.destroy();
      // After refusing a body we have not read, close the connection rather than drain it.
      if (!req.complete) res.setHeader('connection', 'close');
      send(res, status, { error: message });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}
