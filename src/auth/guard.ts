// One onRequest hook decides which credentials a route takes, so no route can forget: /api/management/* wants a
// user JWT or PAT, /api/devices/* a device JWT (from the Authorization header, or the `JWT` cookie the web GUI sends
// where a browser cannot set headers); a few routes are open because they authenticate otherwise (a
// signed link, a signed auth request, the DDI's own tokens). Closed by default: a path no rule names needs a user
// token, so a route added under a new prefix is protected until someone decides otherwise. Once a user is known, the
// same hook checks the permission the route needs (src/auth/permissions.ts, the one table of them).
import { createHash, timingSafeEqual } from 'node:crypto';
import { parseCookie } from 'cookie';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Forbidden, NotFound, Unauthorized } from '../errors.js';
import { checkPermission, type ScopeLookup } from './permissions.js';
import type { DevicePrincipal, Principal, TokenRegistry, UserPrincipal } from './principal.js';
import type { TokenIssuer } from './tokens.js';

/**
 * `server-admin`: the server-wide operator API under /api/admin/ (all tenants; not a tenant user's permission),
 * authenticated by `GuardOptions.serverAdmin`.
 */
export type Audience = 'user' | 'device' | 'server-admin' | 'none';

/** Paths (without query) that need no token: login takes Basic credentials, an auth request is signed. */
const OPEN_PATHS = new Set([
  '/api/management/v1/useradm/auth/login',
  '/api/devices/v1/authentication/auth_requests',
  // The generated OpenAPI document: public, as Mender's API docs are.
  '/api/openapi.json',
  // Probes for load balancers and orchestrators; /metrics guards itself (a bearer token of its own, or loopback).
  '/health',
  '/ready',
  '/metrics',
  // The web UI's entry point (a redirect to /ui/).
  '/',
]);

/** The first rule whose prefix or pattern matches decides; more specific rules come first. */
const RULES: { match: string | RegExp; audience: Audience }[] = [
  // The configuration download of a configuration deployment is a signed link: the link is the credential.
  { match: '/api/devices/v1/deployments/download/configuration/', audience: 'none' },
  { match: '/api/management/', audience: 'user' },
  { match: '/api/admin/', audience: 'server-admin' },
  { match: '/api/devices/', audience: 'device' },
  // Kanto's management routes (devices speak MQTT, not HTTP); outside /api/management/, which is Mender's.
  { match: '/api/kanto/', audience: 'user' },
  // Management of DDI targets and settings, also outside /api/management/.
  { match: '/api/ddi/', audience: 'user' },
  // Artifact downloads and direct uploads behind signed, expiring links (src/blobs/links.ts).
  { match: '/api/downloads/', audience: 'none' },
  { match: '/api/uploads/', audience: 'none' },
  // The API browser (static pages over /api/openapi.json), public like the document.
  { match: '/api/docs', audience: 'none' },
  // hawkBit DDI (`/{tenant}/controller/v1/...`) authenticates itself (TargetToken, GatewayToken, anonymous).
  { match: /^\/[^/]+\/controller\/v1\//, audience: 'none' },
  // The web UI's static files (src/web/ui.ts): no data, the app logs in through the management API.
  { match: '/ui/', audience: 'none' },
];

/** The audience a rule gives a path (a route template or a request path), or undefined if no rule names it. */
export function explicitAudienceOf(url: string): Audience | undefined {
  const path = url.split('?', 1)[0];
  if (OPEN_PATHS.has(path)) return 'none';
  for (const rule of RULES) {
    if (typeof rule.match === 'string' ? path.startsWith(rule.match) : rule.match.test(path)) return rule.audience;
  }
  return undefined;
}

export function audienceOf(url: string): Audience {
  return explicitAudienceOf(url) ?? 'user';
}

export function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (!header) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

/**
 * The `JWT` cookie of a Cookie header (parsed by jshttp's `cookie`): Mender's web GUI authenticates websockets and
 * file downloads with it, since a browser can set no header there. Exported for the websocket routes.
 */
export function jwtCookieOf(cookieHeader: string | undefined): string | undefined {
  if (!cookieHeader) return undefined;
  return parseCookie(cookieHeader).JWT || undefined;
}

/**
 * The request's token as Mender reads it (pkg/identity ExtractJWTFromHeader): the Authorization header when there
 * is one (and then it must be `Bearer <token>`), else the `JWT` cookie.
 */
export function requestToken(request: FastifyRequest): string | undefined {
  if (request.headers.authorization !== undefined) return bearerToken(request);
  // Only where a browser can send no header: GET and HEAD (device connect's websockets, file and artifact
  // downloads). Mender takes the cookie on any request, with SameSite=Strict as its only guard; a cookie on a request
  // that changes something would let another site's form act with the operator's credentials.
  if (request.method !== 'GET' && request.method !== 'HEAD') return undefined;
  return jwtCookieOf(request.headers.cookie);
}

/**
 * The operator token (FLOTILLA_ADMIN_TOKEN) as a bearer token, compared in constant time. Without one configured the
 * operator API does not exist: 404, as for any path nothing serves, so a scan learns nothing.
 */
function checkOperator(request: FastifyRequest, operatorToken: string): void {
  if (!operatorToken) throw new NotFound('not found');
  const given = createHash('sha256')
    .update(bearerToken(request) ?? '')
    .digest();
  if (!timingSafeEqual(given, createHash('sha256').update(operatorToken).digest())) {
    throw new Unauthorized('operator token required');
  }
}

/** The server administrator's check of the operator API, with the configured operator token. */
export function operatorCheck(operatorToken: string): (request: FastifyRequest) => Promise<void> {
  return async (request) => checkOperator(request, operatorToken);
}

export interface GuardOptions {
  /** Checks the server-wide operator's credentials on /api/admin/ routes; without it those routes refuse all. */
  serverAdmin?: (request: FastifyRequest) => Promise<void>;
}

export function installAuthGuard(
  app: FastifyInstance,
  tokens: TokenIssuer,
  registry: TokenRegistry,
  scopes: ScopeLookup,
  options: GuardOptions = {},
): void {
  app.decorateRequest('principal', undefined);
  // By the route's template when a route matched (the router decodes and normalises the raw URL, so the template
  // is what it actually serves), by the path for a request no route serves (a 404 behind the same credentials).
  const byTemplate = new Map<string, Audience>();
  const routeAudience = (template: string) => {
    let audience = byTemplate.get(template);
    if (audience === undefined) {
      audience = audienceOf(template);
      byTemplate.set(template, audience);
    }
    return audience;
  };
  app.addHook('onRequest', async (request) => {
    const template = request.routeOptions.url;
    const audience = template === undefined ? audienceOf(request.url) : routeAudience(template);
    if (audience === 'none') return;
    if (audience === 'server-admin') {
      if (!options.serverAdmin) throw new Forbidden('no server administrator is configured');
      return options.serverAdmin(request);
    }
    const token = requestToken(request);
    if (!token) throw new Unauthorized('missing or malformed Authorization header (or JWT cookie)');
    const claims = await tokens.verify(token);
    if (claims.kind !== audience) {
      throw new Forbidden(
        audience === 'user' ? 'device tokens are not allowed here' : 'user tokens are not allowed here',
      );
    }
    let principal: Principal;
    if (claims.kind === 'user') {
      const alive = await registry.userToken(claims.tenantId, claims.id);
      if (!alive) throw new Unauthorized('token revoked or expired');
      principal = {
        kind: 'user',
        tenantId: claims.tenantId,
        userId: alive.userId,
        tokenId: claims.id,
        access: alive.access,
      };
      // A request no route serves gets its 404 whatever the caller's roles.
      if (template !== undefined) await checkPermission(request, template, principal, scopes);
    } else {
      const alive = await registry.deviceToken(claims.tenantId, claims.id);
      if (!alive) throw new Unauthorized('token revoked or expired');
      principal = { kind: 'device', tenantId: claims.tenantId, deviceId: alive.deviceId, tokenId: claims.id };
    }
    request.principal = principal;
  });
}

export function userOf(request: FastifyRequest): UserPrincipal {
  const p = request.principal;
  if (p?.kind !== 'user') throw new Unauthorized();
  return p;
}

export function deviceOf(request: FastifyRequest): DevicePrincipal {
  const p = request.principal;
  if (p?.kind !== 'device') throw new Unauthorized();
  return p;
}
