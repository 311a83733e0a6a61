// Mender's error shape: {"error": "...", "request_id": "..."} with the request id also in X-MEN-RequestID.
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { DomainError, TooManyRequests } from '../../errors.js';

export function menderError(reply: FastifyReply, request: FastifyRequest, status: number, message: string) {
  return reply.status(status).type('application/json').send({ error: message, request_id: request.id });
}

export function menderErrorHandler(error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply) {
  if (error instanceof TooManyRequests) reply.header('Retry-After', String(error.retryAfterSeconds));
  if (error instanceof DomainError) return menderError(reply, request, error.status, error.message);
  const fe = error as FastifyError;
  if (fe.validation) return menderError(reply, request, 400, `invalid request: ${fe.message}`);
  if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return menderError(reply, request, 413, 'request body too large');
  if (fe.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return menderError(reply, request, 415, fe.message);
  if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) {
    return menderError(reply, request, fe.statusCode, fe.message);
  }
  request.log.error({ err: error }, 'unhandled error');
  return menderError(reply, request, 500, 'internal error');
}
