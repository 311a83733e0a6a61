// Lists the routes a built Fastify app serves, from `printRoutes` (Fastify has no route list, and an `onRoute`
// hook would have to be installed before buildApp registers anything). Every parsed route is confirmed with
// `hasRoute`, so a change in the print format fails loudly instead of hiding routes.
import type { FastifyInstance, HTTPMethods } from 'fastify';

export interface RegisteredRoute {
  method: string;
  /** Fastify's notation, e.g. `/api/management/v2/devauth/devices/:id`. */
  url: string;
}

export function registeredRoutes(app: FastifyInstance): RegisteredRoute[] {
  const routes: RegisteredRoute[] = [];
  const prefixes: string[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const match = /^([│ ]*)[├└]── (.*?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!match) {
      if (line.trim()) throw new Error(`cannot read route line: ${line}`);
      continue;
    }
    const depth = match[1].length / 4;
    const url = (depth > 0 ? prefixes[depth - 1] : '') + match[2];
    prefixes[depth] = url;
    prefixes.length = depth + 1;
    for (const method of match[3]?.split(', ') ?? []) {
      // A wildcard is printed where its static prefix was folded into the tree (Swagger UI's `/api/docs/static/*`
      // prints as `/api/docs/*`), so hasRoute cannot confirm it.
      if (!url.endsWith('*') && !app.hasRoute({ method: method as HTTPMethods, url }))
        throw new Error(`parsed ${method} ${url}, not served`);
      routes.push({ method, url });
    }
  }
  return routes;
}

/** `/a/:id/b` → `/a/{id}/b` (OpenAPI notation). */
export function openApiPath(url: string): string {
  return url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}
