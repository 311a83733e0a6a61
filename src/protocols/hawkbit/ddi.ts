// hawkBit DDI controller routes (`/{tenant}/controller/v1/{controllerId}/...`): wire shapes only, the rules are in
// service.ts. Authentication is the DDI's own (TargetToken, GatewayToken, anonymous), not a Mender JWT: the auth
// guard leaves these paths to this plugin.
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { type Static, Type } from '@sinclair/typebox';
import { Ajv } from 'ajv';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { readRange } from '../../api/byte-range.js';
import { attachment } from '../../api/content-disposition.js';
import { sendBlobBody } from '../../api/downloads.js';
import { publicBaseOf } from '../../api/public-url.js';
import { isJsonObject } from '../../api/schemas.js';
import type { BlobSender } from '../../blobs/store.js';
import { Invalid } from '../../errors.js';
import { CBOR, ddiCbor } from './cbor.js';
import { ddiError, ddiErrorHandler } from './errors.js';
import { parseConfirmation, parseFeedback } from './feedback.js';
import type { Chunk } from './payloads.js';
import {
  ActionFeedback,
  ActivateAutoConfirmation,
  Artifact,
  AssignedVersion,
  Cancel,
  ConfigData,
  ConfirmationBase,
  ConfirmationBaseAction,
  ConfirmationFeedback,
  ControllerBase,
  DeploymentBase,
  responses,
} from './schemas.js';
import { type DdiService, sleepText, type Target } from './service.js';
import type { DdiAction, DdiFileTable } from './tables.js';

const PREFIX = '/:tenant/controller/v1/:controllerId';

// Path parameters are strings as hawkBit's are; ids are looked up as given (an unknown or malformed id is a 404).
const TargetParams = Type.Object({ tenant: Type.String(), controllerId: Type.String() });
const ActionParams = Type.Object({ ...TargetParams.properties, actionId: Type.String() });
const ModuleParams = Type.Object({ ...TargetParams.properties, moduleId: Type.String() });
const FileParams = Type.Object({ ...ModuleParams.properties, fileName: Type.String() });
// A string, not an integer: "lots" is answered by the handler with hawkBit's 400, after authentication.
const HistoryQuery = Type.Object({ actionHistory: Type.Optional(Type.String()) });
// Bodies are JSON the handlers check themselves (parseFeedback, the service), after authentication and with
// hawkBit's texts: a validating body schema would answer a malformed body before a bad token is refused. So the body
// schemas (schemas.ts) are not validated here (the validator compiler below), only written into the OpenAPI document.
const TAGS = ['hawkBit DDI'];
/** Request body types the DDI spec offers (CBOR: cbor.ts). */
const BODY_TYPES = ['application/json', CBOR];

export async function ddiRoutes(fastify: FastifyInstance, { ddi, publicUrl }: { ddi: DdiService; publicUrl: string }) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  app.setErrorHandler(ddiErrorHandler);
  // Paths and queries are checked by schema as everywhere; bodies by the handlers, after authentication.
  const ajv = new Ajv({ coerceTypes: 'array', useDefaults: true, removeAdditional: true, allErrors: false });
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? () => true : ajv.compile(schema)));
  ddiCbor(app);

  const targetOf = async (request: FastifyRequest, params: Static<typeof TargetParams>): Promise<Target> =>
    ddi.authenticate(await ddi.tenant(params.tenant), params.controllerId, request.headers.authorization);
  /** The target's own URL, which the links of its answers start with. */
  const baseOf = (request: FastifyRequest, { tenant, controllerId }: Static<typeof TargetParams>) =>
    `${publicBaseOf(request, publicUrl)}/${encodeURIComponent(tenant)}/controller/v1/${encodeURIComponent(controllerId)}`;
  const href = (url: string) => ({ href: url });

  const artifactJson = (base: string, moduleId: number, file: DdiFileTable) => {
    const url = `${base}/softwaremodules/${moduleId}/artifacts/${encodeURIComponent(file.file_name)}`;
    return {
      filename: file.file_name,
      hashes: { sha1: file.sha1, md5: file.md5, sha256: file.sha256 },
      size: file.size,
      _links: {
        download: href(url),
        'download-http': href(url),
        md5sum: href(`${url}.MD5SUM`),
        'md5sum-http': href(`${url}.MD5SUM`),
      },
    };
  };
  const chunkJson = (base: string, chunk: Chunk) => ({
    part: chunk.part,
    version: chunk.version,
    name: chunk.name,
    artifacts: chunk.artifacts.map((f) => artifactJson(base, chunk.moduleId, f)),
  });
  const deploymentJson = async (base: string, history: string | undefined, target: Target, action: DdiAction) => {
    const count = history === undefined || history === '' ? 0 : Number.parseInt(history, 10);
    if (Number.isNaN(count)) throw new Invalid('actionHistory: must be a number');
    return {
      id: String(action.id),
      deployment: {
        // The deployment's handling now (forced, soft, time-forced, download-only; the maintenance window).
        ...(await ddi.actions.handling(target, action)),
        chunks: (await ddi.payloads.chunks(target, action)).map((c) => chunkJson(base, c)),
      },
      ...(count !== 0 ? { actionHistory: await ddi.actions.actionHistory(target, action, count) } : {}),
    };
  };

  app.get(
    PREFIX,
    { schema: { tags: TAGS, params: TargetParams, response: responses(ControllerBase) } },
    async (request) => {
      const target = await targetOf(request, request.params);
      const offer = await ddi.actions.poll(target);
      const base = baseOf(request, request.params);
      const links: Record<string, { href: string }> = {};
      if (offer.cancelAction) links.cancelAction = href(`${base}/cancelAction/${offer.cancelAction.id}`);
      if (offer.deploymentBase)
        links.deploymentBase = href(
          `${base}/deploymentBase/${offer.deploymentBase.id}?c=${offer.deploymentBase.attempt}`,
        );
      if (offer.confirmationBase)
        links.confirmationBase = href(
          `${base}/confirmationBase/${offer.confirmationBase.id}?c=${offer.confirmationBase.attempt}`,
        );
      if (offer.installed) links.installedBase = href(`${base}/installedBase/${offer.installed.id}`);
      if (offer.configData) links.configData = href(`${base}/configData`);
      return { config: { polling: { sleep: sleepText(offer.sleep) } }, _links: links };
    },
  );

  const actionSchema = {
    tags: TAGS,
    params: ActionParams,
    querystring: HistoryQuery,
    response: responses(DeploymentBase),
  };
  app.get(`${PREFIX}/deploymentBase/:actionId`, { schema: actionSchema }, async (request, reply) => {
    const target = await targetOf(request, request.params);
    const action = await ddi.actions.action(target, request.params.actionId);
    // As hawkBit: an action waiting for confirmation is exposed by confirmationBase only.
    if (action.status === 'waiting') return ddiError(reply, 404, `action ${action.id} is waiting for confirmation`);
    return deploymentJson(baseOf(request, request.params), request.query.actionHistory, target, action);
  });

  app.get(`${PREFIX}/installedBase/:actionId`, { schema: actionSchema }, async (request, reply) => {
    const target = await targetOf(request, request.params);
    const action = await ddi.actions.action(target, request.params.actionId);
    if (action.result !== 'success') return ddiError(reply, 404, 'action not found');
    return deploymentJson(baseOf(request, request.params), request.query.actionHistory, target, action);
  });

  const feedbackRoute = (kind: 'deploymentBase' | 'cancelAction') =>
    app.post(
      `${PREFIX}/${kind}/:actionId/feedback`,
      {
        schema: { tags: TAGS, params: ActionParams, body: ActionFeedback, consumes: BODY_TYPES, response: responses() },
      },
      async (request, reply) => {
        const target = await targetOf(request, request.params);
        const actionId = request.params.actionId;
        const row = await ddi.actions.actionRow(target, actionId);
        const feedback = parseFeedback(request.body);
        const id = isJsonObject(request.body) ? request.body.id : undefined;
        if (id !== undefined && String(id) !== actionId) throw new Invalid('id: does not match the action in the path');
        const outcome =
          kind === 'deploymentBase'
            ? await ddi.actions.deploymentFeedback(target, row, feedback)
            : await ddi.actions.cancelFeedback(target, await ddi.actions.action(target, actionId), feedback);
        if (outcome === 'gone') return ddiError(reply, 410, 'action is not active anymore');
        return reply.code(200).send();
      },
    );
  feedbackRoute('deploymentBase');
  feedbackRoute('cancelAction');

  app.get(
    `${PREFIX}/cancelAction/:actionId`,
    { schema: { tags: TAGS, params: ActionParams, response: responses(Cancel) } },
    async (request, reply) => {
      const target = await targetOf(request, request.params);
      const action = await ddi.actions.action(target, request.params.actionId);
      if (action.status !== 'canceling') return ddiError(reply, 404, 'no cancellation for this action');
      return { id: String(action.id), cancelAction: { stopId: String(action.id) } };
    },
  );

  app.put(
    `${PREFIX}/configData`,
    { schema: { tags: TAGS, params: TargetParams, body: ConfigData, consumes: BODY_TYPES, response: responses() } },
    async (request, reply) => {
      const target = await targetOf(request, request.params);
      await ddi.configData(target, request.body);
      return reply.code(200).send();
    },
  );

  app.put(
    `${PREFIX}/installedBase`,
    {
      schema: { tags: TAGS, params: TargetParams, body: AssignedVersion, consumes: BODY_TYPES, response: responses() },
    },
    async (request, reply) => {
      const target = await targetOf(request, request.params);
      await ddi.installedVersion(target, request.body);
      return reply.code(200).send();
    },
  );

  // Confirmation: with the tenant's auto-confirm on (the default) every action is confirmed at once and targets
  // cannot switch that off; with it off, each new action waits for the target's confirmation or its own
  // auto-confirmation (actions.ts).
  const confirmationBaseSchema = { tags: TAGS, params: TargetParams, response: responses(ConfirmationBase) };
  app.get(`${PREFIX}/confirmationBase`, { schema: confirmationBaseSchema }, async (request) => {
    const target = await targetOf(request, request.params);
    const base = baseOf(request, request.params);
    const { tenantWide, ...autoConfirm } = await ddi.actions.autoConfirmation(target);
    const links: Record<string, { href: string }> = {};
    if (!autoConfirm.active) {
      links.activateAutoConfirm = href(`${base}/confirmationBase/activateAutoConfirm`);
      const waiting = (await ddi.actions.poll(target)).confirmationBase;
      if (waiting) links.confirmationBase = href(`${base}/confirmationBase/${waiting.id}?c=${waiting.attempt}`);
    } else if (!tenantWide) {
      links.deactivateAutoConfirm = href(`${base}/confirmationBase/deactivateAutoConfirm`);
    }
    return { autoConfirm, _links: links };
  });
  app.post(
    `${PREFIX}/confirmationBase/activateAutoConfirm`,
    {
      schema: {
        tags: TAGS,
        params: TargetParams,
        body: ActivateAutoConfirmation,
        consumes: BODY_TYPES,
        response: responses(),
      },
    },
    async (request, reply) => {
      const target = await targetOf(request, request.params);
      const body = request.body ?? {};
      if (!isJsonObject(body)) throw new Invalid('body: must be an object');
      for (const key of ['initiator', 'remark'] as const)
        if (body[key] !== undefined && (typeof body[key] !== 'string' || (body[key] as string).length > 255))
          throw new Invalid(`${key}: must be a string of at most 255 characters`);
      await ddi.actions.setAutoConfirmation(target, {
        ...(typeof body.initiator === 'string' ? { initiator: body.initiator } : {}),
        ...(typeof body.remark === 'string' ? { remark: body.remark } : {}),
      });
      return reply.code(200).send();
    },
  );
  app.post(
    `${PREFIX}/confirmationBase/deactivateAutoConfirm`,
    { schema: { tags: TAGS, params: TargetParams, response: responses() } },
    async (request, reply) => {
      const target = await targetOf(request, request.params);
      if ((await ddi.actions.autoConfirmation(target)).tenantWide)
        return ddiError(reply, 409, 'auto-confirmation is the tenant setting here: targets cannot deactivate it');
      await ddi.actions.setAutoConfirmation(target, false);
      return reply.code(200).send();
    },
  );
  app.get(
    `${PREFIX}/confirmationBase/:actionId`,
    {
      schema: {
        tags: TAGS,
        params: ActionParams,
        querystring: HistoryQuery,
        response: responses(ConfirmationBaseAction),
      },
    },
    async (request, reply) => {
      const target = await targetOf(request, request.params);
      const action = await ddi.actions.action(target, request.params.actionId);
      if (action.status !== 'waiting') return ddiError(reply, 404, 'action is not waiting for confirmation');
      const { deployment, ...rest } = await deploymentJson(
        baseOf(request, request.params),
        request.query.actionHistory,
        target,
        action,
      );
      return {
        id: rest.id,
        confirmation: deployment,
        ...(rest.actionHistory ? { actionHistory: rest.actionHistory } : {}),
      };
    },
  );
  app.post(
    `${PREFIX}/confirmationBase/:actionId/feedback`,
    {
      schema: {
        tags: TAGS,
        params: ActionParams,
        body: ConfirmationFeedback,
        consumes: BODY_TYPES,
        response: responses(),
      },
    },
    async (request, reply) => {
      const target = await targetOf(request, request.params);
      const action = await ddi.actions.action(target, request.params.actionId);
      const answer = parseConfirmation(request.body);
      if ((await ddi.actions.confirmationFeedback(target, action, answer)) === 'gone')
        return ddiError(reply, 410, `action ${action.id} is not active anymore`);
      return reply.code(200).send();
    },
  );

  app.get(
    `${PREFIX}/softwaremodules/:moduleId/artifacts`,
    { schema: { tags: TAGS, params: ModuleParams, response: responses(Type.Array(Artifact)) } },
    async (request) => {
      const target = await targetOf(request, request.params);
      const moduleId = request.params.moduleId;
      const module = await ddi.payloads.module(target, moduleId);
      const base = baseOf(request, request.params);
      return module.files.map((f) => artifactJson(base, Number(moduleId), f));
    },
  );

  app.get(
    `${PREFIX}/softwaremodules/:moduleId/artifacts/:fileName`,
    {
      schema: {
        tags: TAGS,
        params: FileParams,
        description: 'The file (Range: one byte range, 206), or `<fileName>.MD5SUM`: its md5 as md5sum writes it',
      },
    },
    async (request, reply) => {
      const target = await targetOf(request, request.params);
      const { moduleId, fileName } = request.params;
      const module = await ddi.payloads.module(target, moduleId);
      const md5sum = fileName.endsWith('.MD5SUM');
      const name = md5sum ? fileName.slice(0, -'.MD5SUM'.length) : fileName;
      const file = module.files.find((f) => f.file_name === name);
      if (!file) return ddiError(reply, 404, 'artifact not found');
      if (md5sum) {
        reply.header('content-disposition', attachment(`${name}.MD5SUM`));
        return reply.type('text/plain').send(`${file.md5}  ${name}\n`);
      }
      return sendFile(request, reply, file, (start, end) =>
        ddi.payloads.fileSender(target, module.artifact.id, module.index, name, start, end),
      );
    },
  );
}

/** The file with `Range` support (one range; hawkBit answers several with multipart, which DDI clients never ask). */
async function sendFile(
  request: FastifyRequest,
  reply: FastifyReply,
  file: DdiFileTable,
  open: (start: number, end: number) => Promise<BlobSender>,
) {
  const size = Number(file.size);
  reply.header('accept-ranges', 'bytes');
  reply.header('etag', `"${file.sha1}"`);
  reply.header('content-disposition', attachment(file.file_name));
  reply.type('application/octet-stream');
  // hawkBit answers a header that is not a byte range with 416 too (its FileStreamingUtil), where RFC 9110 ignores it.
  const range = readRange(request.headers.range, size);
  if (range === 'unsatisfiable' || range === 'malformed') {
    reply.header('content-range', `bytes */${size}`);
    return ddiError(reply, 416, 'requested range not satisfiable');
  }
  if (range !== 'whole') {
    reply
      .code(206)
      .header('content-range', `bytes ${range.start}-${range.end}/${size}`)
      .header('content-length', range.end - range.start + 1);
    return sendBlobBody(request, reply, await open(range.start, range.end));
  }
  reply.header('content-length', size);
  if (size === 0) return reply.send('');
  return sendBlobBody(request, reply, await open(0, size - 1));
}
