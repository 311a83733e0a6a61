// The operator's web UI: serves the single-page app that `npm install` builds into web/dist (scripts/build-web.mjs)
// under /ui/, with every client route answered by its index.html, and sends `/` there. The app speaks only the
// public APIs, so this module owns files, not data. Served with @fastify/static (send's range, ETag and traversal
// handling) rather than by hand.
import { stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply } from 'fastify';

/** Where the build lands: web/dist beside src/ (or beside dist/ when running the compiled server). */
export const WEB_DIST = fileURLToPath(new URL('../../web/dist/', import.meta.url));

const NOT_BUILT = `<!doctype html><meta charset="utf-8"><title>Flotilla</title>
<h1>The Flotilla web UI is not built</h1>
<p>Run <code>npm install</code> (or <code>npm run build:web</code>) in the Flotilla folder, then reload this page.
The APIs under <code>/api/</code> work without it.</p>`;

async function isFile(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isFile(),
    () => false,
  );
}

export async function webUiRoutes(app: FastifyInstance, { root = WEB_DIST }: { root?: string } = {}): Promise<void> {
  // `serve: false`: only reply.sendFile; the route below decides between a file, the app shell and a 404.
  await app.register(fastifyStatic, { root, serve: false });

  app.get('/', { schema: { hide: true } }, async (_request, reply) => reply.redirect('/ui/'));

  // Explicit shapes rather than a wildcard: the app's client routes are at most two segments deep, the build's
  // files sit at the top or in assets/, and the route listing (test/contract/served-routes.ts) can name each.
  const serve = async (path: string, reply: FastifyReply) => {
    if (!(await isFile(`${root}index.html`))) {
      return reply.status(503).type('text/html; charset=utf-8').send(NOT_BUILT);
    }
    // Only plain relative names reach the disk; send refuses traversal as well.
    const safe = path !== '' && !path.split('/').some((part) => part === '..' || part === '' || part.startsWith('.'));
    if (safe && (await isFile(`${root}${path}`))) {
      // Vite names its assets by content hash: they never change, index.html always may.
      const immutable = path.startsWith('assets/');
      return reply.sendFile(path, { immutable, maxAge: immutable ? '365d' : 0 });
    }
    // A missing asset is a 404; anything else is a client route, answered by the app shell.
    if (path.startsWith('assets/')) return reply.status(404).type('text/plain').send('not found');
    return reply.header('cache-control', 'no-cache').sendFile('index.html', { cacheControl: false });
  };
  const hide = { schema: { hide: true } };
  app.get('/ui/', hide, (_request, reply) => serve('', reply));
  app.get<{ Params: { page: string } }>('/ui/:page', hide, (request, reply) => serve(request.params.page, reply));
  app.get<{ Params: { page: string; id: string } }>('/ui/:page/:id', hide, (request, reply) =>
    serve(`${request.params.page}/${request.params.id}`, reply),
  );
  app.get<{ Params: { file: string } }>('/ui/assets/:file', hide, (request, reply) =>
    serve(`assets/${request.params.file}`, reply),
  );
}
