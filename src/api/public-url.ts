// The base every link the server hands out starts with: artifact download and direct-upload links, Mender
// device download links, DDI links. FLOTILLA_PUBLIC_URL when set; otherwise the request's own scheme and host,
// which Fastify reads from X-Forwarded-Proto / X-Forwarded-Host when the peer is a trusted proxy (trustProxy), so a
// TLS front hands out https:// links on its own host and port.
import type { FastifyRequest } from 'fastify';

export function publicBaseOf(request: FastifyRequest, publicUrl: string): string {
  return publicUrl || `${request.protocol}://${request.host}`;
}
