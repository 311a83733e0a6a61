// hawkBit's error shape ({exceptionClass, errorCode, message}) and status codes for the DDI routes; a failed
// authentication is a bare 401 as hawkBit's security filter sends it.
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { DomainError } from '../../errors.js';

const SHAPES: Record<number, { exceptionClass: string; errorCode: string }> = {
  400: {
    exceptionClass: 'org.springframework.http.converter.HttpMessageNotReadableException',
    errorCode: 'hawkbit.server.error.rest.body.notReadable',
  },
  404: {
    exceptionClass: 'org.eclipse.hawkbit.repository.exception.EntityNotFoundException',
    errorCode: 'hawkbit.server.error.repo.entitiyNotFound',
  },
  409: {
    exceptionClass: 'org.eclipse.hawkbit.repository.exception.EntityAlreadyExistsException',
    errorCode: 'hawkbit.server.error.repo.entitiyAlreadyExists',
  },
  416: {
    exceptionClass: 'org.eclipse.hawkbit.rest.exception.FileStreamingFailedException',
    errorCode: 'hawkbit.server.error.artifact.streamingFailed',
  },
};

export function ddiError(reply: FastifyReply, status: number, message: string) {
  if (status === 401) return reply.code(401).send();
  const shape = SHAPES[status] ?? {
    exceptionClass: 'org.eclipse.hawkbit.exception.GenericSpServerException',
    errorCode: 'hawkbit.server.error.generic',
  };
  return reply
    .code(status)
    .type('application/json')
    .send({ ...shape, message });
}

export function ddiErrorHandler(error: FastifyError | DomainError, request: FastifyRequest, reply: FastifyReply) {
  if (error instanceof DomainError) return ddiError(reply, error.status, error.message);
  const status = (error as FastifyError).statusCode;
  if (status && status >= 400 && status < 500) return ddiError(reply, status, error.message);
  request.log.error({ err: error }, 'ddi: unexpected error');
  return ddiError(reply, 500, 'internal error');
}
