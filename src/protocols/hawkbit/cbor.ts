// CBOR where the DDI spec offers it: request bodies sent as `application/cbor` (feedback, configData,
// installedBase, confirmation) and answers for targets whose Accept prefers `application/cbor`. Uses cborg, a
// strict, dependency-free codec (no native build): it refuses truncated input, trailing bytes, non-string map keys and
// unknown tags, so a hostile body is a 400, never a half-read object.
import { decode, encode } from 'cborg';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Invalid } from '../../errors.js';

export const CBOR = 'application/cbor';
const JSON_TYPES = ['application/json', 'application/hal+json'];

/** True when the Accept header ranks application/cbor above the JSON types (q-values; ties go to JSON). */
export function prefersCbor(accept: string | undefined): boolean {
  if (!accept) return false;
  let cbor = 0;
  let json = 0;
  for (const part of accept.split(',')) {
    const [type, ...params] = part.trim().toLowerCase().split(';');
    const q = params.map((p) => /^\s*q=([\d.]+)\s*$/.exec(p)?.[1]).find(Boolean);
    const weight = q === undefined ? 1 : Number(q);
    if (type === CBOR) cbor = Math.max(cbor, weight);
    else if (JSON_TYPES.includes(type) || type === 'application/*' || type === '*/*') json = Math.max(json, weight);
  }
  return cbor > json;
}

/** Registers the CBOR body parser and answer encoding on the DDI plugin. */
export function ddiCbor(app: FastifyInstance): void {
  app.addContentTypeParser(CBOR, { parseAs: 'buffer' }, (_request, body, done) => {
    try {
      done(null, decode(body as Buffer));
    } catch (error) {
      done(new Invalid(`body: not valid CBOR (${(error as Error).message})`), undefined);
    }
  });
  // Every JSON answer (errors too) is re-encoded from the JSON the route's schema serialized, so both encodings
  // carry exactly the same data.
  app.addHook('onSend', async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    if (typeof payload !== 'string' || !prefersCbor(request.headers.accept)) return payload;
    if (!String(reply.getHeader('content-type') ?? '').startsWith('application/json')) return payload;
    reply.type(CBOR);
    return Buffer.from(encode(JSON.parse(payload)));
  });
}
