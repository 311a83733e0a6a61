// Who is making a request, as established by the auth guard.
import type { Access } from '../users/permission-sets.js';

export interface UserPrincipal {
  kind: 'user';
  tenantId: string;
  userId: string;
  tokenId: string;
  /** What the user's roles allow, as read with the token (src/auth/permissions.ts checks it). */
  access: Access;
  /** Set on a route that lists devices when the caller may see only these groups' devices. */
  deviceGroups?: string[];
}

export interface DevicePrincipal {
  kind: 'device';
  tenantId: string;
  deviceId: string;
  tokenId: string;
}

export type Principal = UserPrincipal | DevicePrincipal;

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
    /** The exact bytes of a JSON body, for signature checks. */
    rawBody?: Buffer;
  }
}

/** Answers whether a token id is still alive (not revoked, not expired) and who it belongs to. */
export interface TokenRegistry {
  userToken(tenantId: string, tokenId: string): Promise<{ userId: string; access: Access } | undefined>;
  deviceToken(tenantId: string, tokenId: string): Promise<{ deviceId: string } | undefined>;
}
