// hawkBit DDI controller routes (`/{tenant}/controller/v1/{controllerId}/...`): wire shapes only, the rules are in
// service.ts. Authentication is the DDI's own (TargetToken, GatewayToken, anonymous), not a Mender JWT: the auth
// guard leaves these paths to this plugin.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Invalid } from '../../errors.js';
import { ddiError, ddiErrorHandler } from './errors.js';
import { parseFeedback } from './feedback.js';
import { type Chunk, type DdiService, sleepText, type Target } from './service.js';
import type { DdiAction, DdiFileTable } from './tables.js';

interface Params {
  tenant: string;
  controllerId: string;
  actionId: string;
  moduleId: string;
  fileName: string;
}

const PREFIX = '/:tenant/controller/v1/:controllerId';

export async function ddiRoutes(app: FastifyInstance, { ddi }: { ddi: DdiService }) {
  app.setErrorHandler(ddiErrorHandler);

  const targetOf = async (request: FastifyRequest): Promise<Target> => {
    const { tenant, controllerId } = request.params as Params;
    return ddi.authenticate(await ddi.tenant(tenant), controllerId, request.headers.authorization);
  };
  const base = (request: FastifyRequest) => {
    const { tenant, controllerId } = request.params as Params;
    return `${request.protocol}://${request.host}/${encodeURIComponent(tenant)}/controller/v1/${encodeURIComponent(controllerId)}`;
  };
  const href = (url: string) => ({ href: url });

  const artifactJson = (request: FastifyRequest, moduleId: number, file: DdiFileTable) => {
    const url = `${base(request)}/softwaremodules/${moduleId}/artifacts/${encodeURIComponent(file.file_name)}`;
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
  const chunkJson = (request: FastifyRequest, chunk: Chunk) => ({
    part: chunk.part,
    version: chunk.version,
    name: chunk.name,
    artifacts: chunk.artifacts.map((f) => artifactJson(request, chunk.moduleId, f)),
  });
  const deploymentJson = async (request: FastifyRequest, target: Target, action: DdiAction) => {
    const history = (request.query as { actionHistory?: string }).actionHistory;
    const count = history === undefined || history === '' ? 0 : Number.parseInt(history, 10);
    if (Number.isNaN(count)) throw new Invalid('actionHistory: must be a number');
    return {
      id: String(action.id),
      deployment: {
        // Flotilla deployments have no soft/forced split or maintenance window: every assignment is forced.
        download: 'forced',
        update: 'forced',
        chunks: (await ddi.chunks(target, action)).map((c) => chunkJson(request, c)),
      },
      ...(count !== 0 ? { actionHistory: await ddi.actionHistory(target, action, count) } : {}),
    };
  };

  app.get(PREFIX, { schema: { hide: true } }, async (request) => {
    const target = await targetOf(request);
    const offer = await ddi.poll(target);
    const links: Record<string, { href: string }> = {};
    if (offer.cancelAction) links.cancelAction = href(`${base(request)}/cancelAction/${offer.cancelAction.id}`);
    if (offer.deploymentBase)
      links.deploymentBase = href(
        `${base(request)}/deploymentBase/${offer.deploymentBase.id}?c=${offer.deploymentBase.attempt}`,
      );
    if (offer.installed) links.installedBase = href(`${base(request)}/installedBase/${offer.installed.id}`);
    if (offer.configData) links.configData = href(`${base(request)}/configData`);
    return { config: { polling: { sleep: sleepText(offer.sleep) } }, _links: links };
  });

  app.get(`${PREFIX}/deploymentBase/:actionId`, { schema: { hide: true } }, async (request) => {
    const target = await targetOf(request);
    const action = await ddi.action(target, (request.params as Params).actionId);
    return deploymentJson(request, target, action);
  });

  app.get(`${PREFIX}/installedBase/:actionId`, { schema: { hide: true } }, async (request, reply) => {
    const target = await targetOf(request);
    const action = await ddi.action(target, (request.params as Params).actionId);
    if (action.result !== 'success') return ddiError(reply, 404, 'action not found');
    return deploymentJson(request, target, action);
  });

  const feedbackRoute = (kind: 'deploymentBase' | 'cancelAction') =>
    app.post(`${PREFIX}/${kind}/:actionId/feedback`, { schema: { hide: true } }, async (request, reply) => {
      const target = await targetOf(request);
      const actionId = (request.params as Params).actionId;
      const row = await ddi.actionRow(target, actionId);
      const feedback = parseFeedback(request.body);
      const body = request.body as { id?: unknown };
      if (body.id !== undefined && String(body.id) !== actionId)
        throw new Invalid('id: does not match the action in the path');
      const outcome =
        kind === 'deploymentBase'
          ? await ddi.deploymentFeedback(target, row, feedback)
          : await ddi.cancelFeedback(target, await ddi.action(target, actionId), feedback);
      if (outcome === 'gone') return ddiError(reply, 410, 'action is not active anymore');
      return reply.code(200).send();
    });
  feedbackRoute('deploymentBase');
  feedbackRoute('cancelAction');

  app.get(`${PREFIX}/cancelAction/:actionId`, { schema: { hide: true } }, async (request, reply) => {
    const target = await targetOf(request);
    const action = await ddi.action(target, (request.params as Params).actionId);
    if (action.status !== 'canceling') return ddiError(reply, 404, 'no cancellation for this action');
    return { id: String(action.id), cancelAction: { stopId: String(action.id) } };
  });

  app.put(`${PREFIX}/configData`, { schema: { hide: true } }, async (request, reply) => {
    const target = await targetOf(request);
    await ddi.configData(target, request.body);
    return reply.code(200).send();
  });

  app.put(`${PREFIX}/installedBase`, { schema: { hide: true } }, async (request, reply) => {
    const target = await targetOf(request);
    await ddi.installedVersion(target, request.body);
    return reply.code(200).send();
  });

  // Confirmation: Flotilla confirms every action itself (deployments are the operator's confirmation), so
  // auto-confirm is always active, no action ever waits for the device, and it cannot be switched off.
  app.get(`${PREFIX}/confirmationBase`, { schema: { hide: true } }, async (request) => {
    await targetOf(request);
    return {
      autoConfirm: { active: true, initiator: 'flotilla', remark: 'Flotilla deployments need no device confirmation' },
      _links: {},
    };
  });
  app.post(`${PREFIX}/confirmationBase/activateAutoConfirm`, { schema: { hide: true } }, async (request, reply) => {
    await targetOf(request);
    const body = request.body;
    if (body !== undefined && body !== null && (typeof body !== 'object' || Array.isArray(body)))
      throw new Invalid('body: must be an object');
    return reply.code(200).send();
  });
  app.post(`${PREFIX}/confirmationBase/deactivateAutoConfirm`, { schema: { hide: true } }, async (request, reply) => {
    await targetOf(request);
    return ddiError(reply, 409, 'auto-confirmation cannot be deactivated: Flotilla confirms every action');
  });
  app.get(`${PREFIX}/confirmationBase/:actionId`, { schema: { hide: true } }, async (request, reply) => {
    const target = await targetOf(request);
    await ddi.action(target, (request.params as Params).actionId);
    return ddiError(reply, 404, 'action is not waiting for confirmation');
  });
  app.post(`${PREFIX}/confirmationBase/:actionId/feedback`, { schema: { hide: true } }, async (request, reply) => {
    const target = await targetOf(request);
    const action = await ddi.action(target, (request.params as Params).actionId);
    const body = request.body as { confirmation?: unknown } | null;
    if (body?.confirmation !== 'confirmed' && body?.confirmation !== 'denied')
      throw new Invalid('confirmation: must be confirmed or denied');
    // As hawkBit: a closed action is gone, an active one is not waiting for confirmation (never, here).
    if (action.status === 'closed') return ddiError(reply, 410, `action ${action.id} is not active anymore`);
    return ddiError(reply, 404, `action ${action.id} is not waiting for confirmation`);
  });

  app.get(`${PREFIX}/softwaremodules/:moduleId/artifacts`, { schema: { hide: true } }, async (request) => {
    const target = await targetOf(request);
    const moduleId = (request.params as Params).moduleId;
    const module = await ddi.module(target, moduleId);
    return module.files.map((f) => artifactJson(request, Number(moduleId), f));
  });

  app.get(
    `${PREFIX}/softwaremodules/:moduleId/artifacts/:fileName`,
    { schema: { hide: true } },
    async (request, reply) => {
      const target = await targetOf(request);
      const { moduleId, fileName } = request.params as Params;
      const module = await ddi.module(target, moduleId);
      const md5sum = fileName.endsWith('.MD5SUM');
      const name = md5sum ? fileName.slice(0, -'.MD5SUM'.length) : fileName;
      const file = module.files.find((f) => f.file_name === name);
      if (!file) return ddiError(reply, 404, 'artifact not found');
      if (md5sum) {
        reply.header('content-disposition', `attachment;filename=${name}.MD5SUM`);
        return reply.type('text/plain').send(`${file.md5}  ${name}\n`);
      }
      return sendFile(request, reply, file, (start, end) =>
        ddi.openFile(target, module.artifact.id, module.index, name, start, end),
      );
    },
  );
}

/** The file with `Range` support (one range; hawkBit answers several with multipart, which DDI clients never ask). */
async function sendFile(
  request: FastifyRequest,
  reply: FastifyReply,
  file: DdiFileTable,
  open: (start: number, end: number) => Promise<NodeJS.ReadableStream>,
) {
  const size = Number(file.size);
  reply.header('accept-ranges', 'bytes');
  reply.header('etag', `"${file.sha1}"`);
  reply.header('content-disposition', `attachment;filename=${file.file_name}`);
  reply.type('application/octet-stream');
  const range = request.headers.range;
  if (range) {
    const match = /^bytes=(\d*)-(\d*)$/.exec(range.trim());
    let start = NaN;
    let end = NaN;
    if (match && (match[1] || match[2])) {
      if (match[1]) {
        start = Number(match[1]);
        end = match[2] ? Math.min(Number(match[2]), size - 1) : size - 1;
      } else {
        start = Math.max(size - Number(match[2]), 0);
        end = size - 1;
      }
    }
    if (!match || Number.isNaN(start) || start > end || start >= size) {
      reply.header('content-range', `bytes */${size}`);
      return ddiError(reply, 416, 'requested range not satisfiable');
    }
    reply
      .code(206)
      .header('content-range', `bytes ${start}-${end}/${size}`)
      .header('content-length', end - start + 1);
    return reply.send(await open(start, end));
  }
  reply.header('content-length', size);
  if (size === 0) return reply.send('');
  return reply.send(await open(0, size - 1));
}
