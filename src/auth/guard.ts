// One onRequest hook decides, from the URL alone, which credentials a route takes, so no route can forget:
// /api/management/* wants a user JWT or PAT, /api/devices/* a device JWT; a few routes are open.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Forbidden, Unauthorized } from '../errors.js';
import type { DevicePrincipal, Principal, TokenRegistry, UserPrincipal } from './principal.js';
import type { TokenIssuer } from './tokens.js';

/** Paths (without query) that need no token. */
const OPEN_PATHS = new Set(['/api/management/v1/useradm/auth/login', '/api/devices/v1/authentication/auth_requests']);

type Audience = 'user' | 'device' | 'none';

export function audienceOf(url: string): Audience {
  const path = url.split('?', 1)[0];
  if (OPEN_PATHS.has(path)) return 'none';
  // The configuration download of a configuration deployment is a signed link: the link is the credential.
  if (path.startsWith('/api/devices/v1/deployments/download/configuration/')) return 'none';
  if (path.startsWith('/api/management/')) return 'user';
  // Kanto's management routes (devices speak MQTT, not HTTP); outside /api/management/, which is Mender's.
  if (path.startsWith('/api/kanto/')) return 'user';
  if (path.startsWith('/api/devices/')) return 'device';
  // Management of DDI targets and settings (outside /api/management/, which is Mender's), and hawkBit DDI
  // (`/{tenant}/controller/v1/...`), which authenticates itself (TargetToken, GatewayToken, anonymous).
  if (path.startsWith('/api/ddi/')) return 'user';
  if (/^\/[^/]+\/controller\/v1\//.test(path)) return 'none';
  return 'none';
}

export function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (!header) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

export function installAuthGuard(app: FastifyInstance, tokens: TokenIssuer, registry: TokenRegistry): void {
  app.decorateRequest('principal', undefined);
  app.addHook('onRequest', async (request) => {
    const audience = audienceOf(request.url);
    if (audience === 'none') return;
    const token = bearerToken(request);
    if (!token) throw new Unauthorized('missing or malformed Authorization header');
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
      principal = { kind: 'user', tenantId: claims.tenantId, userId: alive.userId, tokenId: claims.id };
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
