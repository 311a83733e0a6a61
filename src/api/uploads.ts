// The upload end of a direct upload link (see src/artifacts/uploads.ts): a PUT of the raw artifact bytes, with no
// credentials but the link's signature, streamed to the blob store. Answers 200 with no body, as S3 does.

import type { Readable } from 'node:stream';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { DirectUploads } from '../artifacts/uploads.js';
import type { Services } from '../services.js';

const Params = Type.Object({ tenant: Type.String(), id: Type.String() });
const Query = Type.Object({ expires: Type.Optional(Type.String()), signature: Type.Optional(Type.String()) });

export async function uploadRoutes(fastify: FastifyInstance, { services }: { services: Services }): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const uploads = new DirectUploads(services, services.artifacts);
  // Every content type is taken as a stream here (this plugin's scope only): the body is an artifact, not JSON.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, payload, done) => done(null, payload));
  app.put(
    '/api/uploads/v1/:tenant/artifacts/:id',
    {
      schema: {
        summary: 'The upload end of a direct upload link: the raw artifact bytes, authorised by the signature',
        tags: ['signed links'],
        params: Params,
        querystring: Query,
      },
    },
    async (request, reply) => {
      const { tenant, id } = request.params;
      const body = (request.body as Readable | undefined) ?? request.raw;
      await uploads.receive(tenant, id, request.query, body);
      return reply.status(200).send();
    },
  );
}
