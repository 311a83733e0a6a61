// Reading a multipart/form-data body, part by part, with a malformed body answered as the client's error: the
// parser (busboy, under @fastify/multipart) fails with plain errors, no status, when the boundary is missing or
// does not match the body or the body ends early, and those became 500s.
import type { Multipart } from '@fastify/multipart';
import type { FastifyRequest } from 'fastify';
import { Invalid } from '../errors.js';

/** The parts of `request`'s body; any parse failure without a status of its own is an Invalid (400). */
export async function* formParts(request: FastifyRequest): AsyncGenerator<Multipart> {
  try {
    for await (const part of request.parts()) yield part;
  } catch (error) {
    throw malformed(error);
  }
}

/** A parser error with no HTTP status is about the body the client sent: say so with a 400. */
export function malformed(error: unknown): unknown {
  if ((error as { statusCode?: number }).statusCode !== undefined) return error;
  if (error instanceof Invalid) return error;
  const reason = error instanceof Error ? error.message : String(error);
  return new Invalid(`malformed multipart/form-data body: ${reason}`);
}
