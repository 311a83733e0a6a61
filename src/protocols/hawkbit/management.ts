// Management routes for the DDI side of a tenant (user JWT/PAT as for /api/management, Mender's error shape); under
// /api/ddi/ because /api/management/ holds Mender's routes only:
//   GET  /api/ddi/v1/settings              the tenant's DDI settings (gateway token shown only as set/unset)
//   PUT  /api/ddi/v1/settings              {gateway_token?: string|null, anonymous?, auto_accept?,
//                                          default_device_type?, polling_sleep? (seconds)}
//   POST /api/ddi/v1/targets               {controller_id, token?, device_type?} → 201 {…, token}
//                                          (pre-created targets are accepted devices)
//   GET  /api/ddi/v1/targets/{controllerId}
//   POST /api/ddi/v1/artifacts?filename=update.swu&version=v1&device_type=a,b[&type=swupdate]
//        body: the raw file (application/octet-stream) → 201 the artifact (a module-image whose payload is the file)
import type { Readable } from 'node:stream';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { uploadRawPayload } from '../../artifacts/raw.js';
import { userOf } from '../../auth/guard.js';
import { Invalid } from '../../errors.js';
import type { Services } from '../../services.js';
import type { DdiService } from './service.js';
import type { DdiSettingsTable } from './tables.js';

const BASE = '/api/ddi/v1';
const TAGS = ['hawkBit DDI management'];
// Bodies are checked by the DDI service (Mender's error shape, its own texts); their shapes are written down here
// for the OpenAPI document only.
const SettingsBody = Type.Unknown({
  description:
    '{gateway_token?: string|null, anonymous?: boolean, auto_accept?: boolean, auto_confirm?: boolean (default true; false: targets confirm each action), default_device_type?: string, polling_sleep?: seconds}',
});
const NewTargetBody = Type.Unknown({ description: '{controller_id, token?, device_type?}' });
const RawArtifactQuery = Type.Object({
  filename: Type.Optional(Type.String()),
  version: Type.Optional(Type.String()),
  device_type: Type.Optional(Type.String({ description: 'comma-separated device types' })),
  type: Type.Optional(Type.String()),
  description: Type.Optional(Type.String()),
});

function settingsView(s: DdiSettingsTable) {
  return {
    gateway_token_set: s.gateway_token_hash !== null,
    anonymous: s.anonymous === 1,
    auto_accept: s.auto_accept === 1,
    auto_confirm: s.auto_confirm === 1,
    default_device_type: s.default_device_type,
    polling_sleep: s.polling_sleep,
  };
}

export async function ddiManagementRoutes(
  fastify: FastifyInstance,
  { ddi, services }: { ddi: DdiService; services: Services },
) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const tenantOf = (request: FastifyRequest) => userOf(request).tenantId;

  app.get(`${BASE}/settings`, { schema: { tags: TAGS } }, async (request) =>
    settingsView(await ddi.settings(tenantOf(request))),
  );
  app.put(`${BASE}/settings`, { schema: { tags: TAGS, body: SettingsBody } }, async (request) =>
    settingsView(await ddi.updateSettings(tenantOf(request), request.body, userOf(request))),
  );
  app.post(`${BASE}/targets`, { schema: { tags: TAGS, body: NewTargetBody } }, async (request, reply) => {
    const created = await ddi.createTarget(tenantOf(request), request.body);
    return reply.code(201).send(created);
  });
  app.get(
    `${BASE}/targets/:controllerId`,
    { schema: { tags: TAGS, params: Type.Object({ controllerId: Type.String() }) } },
    async (request) => ddi.getTarget(tenantOf(request), request.params.controllerId),
  );

  await app.register(async (plugin) => {
    const raw = plugin.withTypeProvider<TypeBoxTypeProvider>();
    raw.addContentTypeParser('application/octet-stream', (_request, payload, done) => done(null, payload));
    raw.post(`${BASE}/artifacts`, { schema: { tags: TAGS, querystring: RawArtifactQuery } }, async (request, reply) => {
      const query = request.query;
      if (!request.body) throw new Invalid('body: the file, as application/octet-stream');
      const artifact = await uploadRawPayload(
        services.artifacts,
        tenantOf(request),
        services.config.dataDir,
        {
          fileName: query.filename ?? '',
          version: query.version ?? '',
          deviceTypes: (query.device_type ?? '').split(',').filter(Boolean),
          type: query.type,
          description: query.description,
        },
        request.body as Readable,
        userOf(request),
      );
      return reply.code(201).send(artifact);
    });
  });
}
