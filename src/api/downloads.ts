// Serves blobs behind signed, expiring links (the folder blob store has no URLs of its own): whole, or one
// byte range (`Range: bytes=a-b`) answered with 206 and Content-Range, as mender-client resumes downloads.
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { downloadPath } from '../artifacts/service.js';
import { type BlobSender, type ByteRange, blobSender } from '../blobs/store.js';
import { Forbidden, NotFound } from '../errors.js';
import type { Services } from '../services.js';
import { readRange } from './byte-range.js';
import { attachment } from './content-disposition.js';

/** Headers and status for a download of `size` bytes; the range to send, `undefined` for all, or `'done'` (416). */
function prepareDownload(
  request: FastifyRequest,
  reply: FastifyReply,
  size: number,
  filename: string,
  contentType: string,
): ByteRange | undefined | 'done' {
  reply.header('Accept-Ranges', 'bytes');
  reply.header('Content-Disposition', attachment(filename));
  reply.type(contentType);
  // A header that is not one range is ignored (RFC 9110 §14.2): the whole blob is sent.
  const asked = readRange(request.headers.range, size);
  if (asked === 'unsatisfiable') {
    reply.header('Content-Range', `bytes */${size}`);
    reply.status(416);
    return 'done';
  }
  const range = typeof asked === 'object' ? asked : undefined;
  if (range) {
    reply.status(206);
    reply.header('Content-Range', `bytes ${range.start}-${range.end}/${size}`);
    reply.header('Content-Length', String(range.end - range.start + 1));
  } else {
    reply.header('Content-Length', String(size));
  }
  return range;
}

export async function sendBlob(
  services: Services,
  request: FastifyRequest,
  reply: FastifyReply,
  blob: { key: string; filename: string; modified: string },
  contentType = 'application/octet-stream',
) {
  // A small blob comes whole from the store's memory; a large one is streamed from where it is.
  const peeked: { size: number; bytes?: Buffer } | undefined = services.blobs.peek
    ? await services.blobs.peek(blob.key)
    : await services.blobs.size(blob.key).then((size) => (size === undefined ? undefined : { size }));
  if (peeked === undefined) throw new NotFound('file not found');
  const { size, bytes } = peeked;
  reply.header('Last-Modified', new Date(blob.modified).toUTCString());
  const range = prepareDownload(request, reply, size, blob.filename, contentType);
  if (range === 'done' || request.method === 'HEAD') return reply.send();
  if (bytes) return reply.send(range ? bytes.subarray(range.start, range.end + 1) : bytes);
  return sendBlobBody(request, reply, await blobSender(services.blobs, blob.key, range));
}

/**
 * Sends a blob's bytes as the body of an answer whose status and headers are set. The sender writes into the raw
 * response itself (Fastify would pipe a stream, and a stream needs a fresh buffer per chunk); the answer's hooks
 * still run when it finishes. A failure after the headers can only cut the connection: the client sees its
 * Content-Length unmet.
 */
export async function sendBlobBody(request: FastifyRequest, reply: FastifyReply, sender: BlobSender) {
  reply.hijack();
  const res = reply.raw;
  for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) res.setHeader(name, value);
  res.writeHead(reply.statusCode);
  try {
    if (request.method !== 'HEAD') await sender.writeTo(res);
    res.end();
  } catch (error) {
    request.log.info({ err: error }, 'download ended early');
    res.destroy();
  } finally {
    await sender.close();
  }
  return reply;
}

/**
 * Serves bytes made for this request (a generated artifact) the same way: mender-client insists on a known size
 * (it refuses a download without Content-Length) and resumes with Range, so the bytes must be whole and the same on
 * every request.
 */
export function sendBytes(
  request: FastifyRequest,
  reply: FastifyReply,
  bytes: Buffer,
  filename: string,
  contentType = 'application/octet-stream',
) {
  const range = prepareDownload(request, reply, bytes.length, filename, contentType);
  if (range === 'done' || request.method === 'HEAD') return reply.send();
  return reply.send(range ? bytes.subarray(range.start, range.end + 1) : bytes);
}

const Params = Type.Object({ tenant: Type.String(), id: Type.String() });
const Query = Type.Object({ expires: Type.Optional(Type.String()), signature: Type.Optional(Type.String()) });

export async function downloadRoutes(fastify: FastifyInstance, { services }: { services: Services }): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  app.route({
    method: ['GET', 'HEAD'],
    url: '/api/downloads/v1/:tenant/artifacts/:id',
    schema: {
      summary: 'Download an artifact through a signed link (expires, signature); supports Range',
      tags: ['signed links'],
      params: Params,
      querystring: Query,
    },
    handler: async (request, reply) => {
      const { tenant, id } = request.params;
      if (!services.links.verify(downloadPath(tenant, id), request.query)) {
        throw new Forbidden('the download link is invalid or has expired');
      }
      const row = await services.artifacts.row(tenant, id);
      return sendBlob(services, request, reply, {
        key: row.blob_key,
        filename: `${row.name}.mender`,
        modified: row.created_ts,
      });
    },
  });
}
