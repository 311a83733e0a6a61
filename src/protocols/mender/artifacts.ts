// Mender deployments management routes for artifacts, releases and storage limits: wire shapes of
// deployments-management-v1.yml / v2.yml translated to the artifact service.
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import multipart from '@fastify/multipart';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { formParts } from '../../api/multipart.js';
import { pageOf, pagingQuery, setPageHeaders } from '../../api/paging.js';
import { publicBaseOf } from '../../api/public-url.js';
import { literals } from '../../api/schemas.js';
import type { ArtifactView, ReleaseView } from '../../artifacts/service.js';
import type { TextMatch } from '../../artifacts/store.js';
import { DirectUploads } from '../../artifacts/uploads.js';
import { makeWorkFolder } from '../../artifacts/work-folders.js';
import { userOf } from '../../auth/guard.js';
import { Invalid } from '../../errors.js';
import type { Services } from '../../services.js';

const V1 = '/api/management/v1/deployments';
const V2 = '/api/management/v2/deployments';

const Id = Type.Object({ id: Type.String() });
const ReleaseName = Type.Object({ release_name: Type.String() });
const Paging = pagingQuery;
const V1Filters = {
  name: Type.Optional(Type.String()),
  description: Type.Optional(Type.String()),
  device_type: Type.Optional(Type.String()),
};
const ReleaseSorts = literals(
  (['artifacts_count', 'modified', 'name', 'tags'] as const).flatMap((f) => [
    `${f}:asc` as const,
    `${f}:desc` as const,
  ]),
);

/** v2 text filters: exact values, or one value ending in `*` for a prefix. */
function v2Match(values: string | string[] | undefined): TextMatch | undefined {
  if (values === undefined) return undefined;
  const list = (Array.isArray(values) ? values : [values]).filter((v) => v !== '');
  if (list.length === 0) return undefined;
  const prefixed = list.filter((v) => v.endsWith('*'));
  if (prefixed.length) {
    if (list.length > 1)
      throw new Invalid('prefix matching takes a single value and cannot be combined with exact matching');
    return { prefix: list[0].slice(0, -1) };
  }
  return { exact: list };
}

/** Device types arrive as repeated fields, a JSON array, or a comma-separated list. */
function deviceTypeList(value: string): string[] {
  const trimmed = value.trim();
  if (trimmed.startsWith('[')) {
    try {
      const parsed = JSON.parse(trimmed);
      if (Array.isArray(parsed)) return parsed.map(String).filter((v) => v !== '');
    } catch {
      throw new Invalid('device_types_compatible: must be a list of device types');
    }
  }
  return trimmed
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v !== '');
}

const contains = (value: string | undefined): TextMatch | undefined => (value ? { contains: value } : undefined);

function releaseV1(release: ReleaseView) {
  return {
    Name: release.name,
    Artifacts: release.artifacts,
    ArtifactsCount: release.artifacts_count,
    modified: release.modified,
    tags: release.tags,
    notes: release.notes,
  };
}

function releaseV2(release: ReleaseView) {
  return {
    name: release.name,
    artifacts: release.artifacts,
    modified: release.modified,
    tags: release.tags,
    notes: release.notes,
  };
}

export async function artifactRoutes(fastify: FastifyInstance, { services }: { services: Services }): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const artifacts = services.artifacts;
  const baseUrl = (request: FastifyRequest) => publicBaseOf(request, services.config.publicUrl);
  await app.register(multipart, {
    limits: { fileSize: services.config.maxArtifactSize + 1, files: 1, fields: 10, fieldSize: 64 * 1024, parts: 20 },
  });

  app.get(`${V1}/artifacts`, { schema: { querystring: Type.Object(V1Filters) } }, async (request) => {
    const q = request.query;
    const { artifacts: list } = await artifacts.list(
      userOf(request).tenantId,
      { name: contains(q.name), description: contains(q.description), deviceType: contains(q.device_type) },
      'name:asc',
    );
    return list;
  });

  app.get(
    `${V1}/artifacts/list`,
    {
      schema: {
        querystring: Type.Object({
          ...V1Filters,
          ...Paging,
          sort: Type.Optional(literals(['name:asc', 'name:desc', 'modified:asc', 'modified:desc'])),
        }),
      },
    },
    async (request, reply) => {
      const q = request.query;
      const page = pageOf(q);
      const result = await artifacts.list(
        userOf(request).tenantId,
        { name: contains(q.name), description: contains(q.description), deviceType: contains(q.device_type) },
        q.sort ?? 'name:asc',
        page,
      );
      setPageHeaders(request, reply, page, result.total);
      return result.artifacts;
    },
  );

  app.get(
    `${V2}/artifacts`,
    {
      schema: {
        querystring: Type.Object({
          name: Type.Optional(Type.Union([Type.String(), Type.Array(Type.String())])),
          description: Type.Optional(Type.String()),
          device_type: Type.Optional(Type.String()),
          ...Paging,
        }),
      },
    },
    async (request, reply) => {
      const q = request.query;
      const page = pageOf(q);
      // One row more than the page tells whether there is a next page without counting the whole table.
      const result = await artifacts.list(
        userOf(request).tenantId,
        { name: v2Match(q.name), description: v2Match(q.description), deviceType: v2Match(q.device_type) },
        'name:asc',
        page,
      );
      setPageHeaders(request, reply, page, undefined, page.page * page.perPage < result.total);
      return result.artifacts;
    },
  );

  app.post(`${V1}/artifacts`, async (request, reply) => {
    const tenantId = userOf(request).tenantId;
    if (!request.isMultipart())
      throw new Invalid('request must be multipart/form-data with the artifact as its last part');
    let description = '';
    let created: ArtifactView | undefined;
    for await (const part of formParts(request)) {
      if (created) throw new Invalid('the artifact must be the last part of the request');
      if (part.type === 'field') {
        if (part.fieldname === 'description') description = String(part.value);
        else if (part.fieldname === 'size') {
          if (!/^\d+$/.test(String(part.value))) throw new Invalid('size must be a whole number of bytes');
        }
        continue;
      }
      if (part.fieldname !== 'artifact') {
        part.file.resume();
        throw new Invalid(`unexpected file part ${JSON.stringify(part.fieldname)}; expected "artifact"`);
      }
      created = await artifacts.upload(tenantId, part.file, description, undefined, userOf(request));
      if (part.file.truncated) throw new Invalid('artifact too large');
    }
    if (!created) throw new Invalid('request has no artifact part');
    reply.header('Location', `${V1}/artifacts/${created.id}`);
    return reply.status(201).send();
  });

  // Direct upload (on-premise Mender): a link to PUT the artifact to, then completion makes it an artifact.
  const uploads = new DirectUploads(services, services.artifacts);
  app.post(`${V1}/artifacts/directupload`, async (request) =>
    uploads.requestLink(userOf(request).tenantId, baseUrl(request)),
  );
  app.post(
    `${V1}/artifacts/directupload/:id/complete`,
    { schema: { params: Type.Object({ id: Type.String() }) } },
    async (request, reply) => {
      // The optional metadata body (file lists for a server that skips verification) is not needed: Flotilla
      // always reads the artifact itself.
      await uploads.complete(userOf(request).tenantId, request.params.id, userOf(request));
      return reply.status(202).send();
    },
  );

  app.post(`${V1}/artifacts/generate`, async (request, reply) => {
    const tenantId = userOf(request).tenantId;
    if (!request.isMultipart()) throw new Invalid('request must be multipart/form-data with the file as its last part');
    const fields: Record<string, string> = {};
    const deviceTypes: string[] = [];
    let created: ArtifactView | undefined;
    const work = await makeWorkFolder(services.config.dataDir, 'upload');
    try {
      for await (const part of formParts(request)) {
        if (created) throw new Invalid('the file must be the last part of the request');
        if (part.type === 'field') {
          const value = String(part.value);
          if (part.fieldname === 'device_types_compatible') deviceTypes.push(...deviceTypeList(value));
          else fields[part.fieldname] = value;
          continue;
        }
        if (part.fieldname !== 'file') {
          part.file.resume();
          throw new Invalid(`unexpected file part ${JSON.stringify(part.fieldname)}; expected "file"`);
        }
        const path = join(work, 'raw');
        await pipeline(part.file, createWriteStream(path));
        if (part.file.truncated) throw new Invalid('file too large');
        created = await services.artifacts.generate(
          tenantId,
          {
            name: fields.name ?? '',
            description: fields.description ?? '',
            deviceTypes,
            type: fields.type ?? '',
            args: fields.args ?? '',
            filePath: path,
            fileName: part.filename,
          },
          userOf(request),
        );
      }
    } finally {
      await rm(work, { recursive: true, force: true });
    }
    if (!created) throw new Invalid('request has no file part');
    reply.header('Location', `${V1}/artifacts/${created.id}`);
    return reply.status(201).send();
  });

  app.get(`${V1}/artifacts/:id`, { schema: { params: Id } }, async (request) => {
    return artifacts.get(userOf(request).tenantId, request.params.id);
  });

  app.put(
    `${V1}/artifacts/:id`,
    { schema: { params: Id, body: Type.Object({ description: Type.Optional(Type.String()) }) } },
    async (request, reply) => {
      const body = request.body ?? {};
      await artifacts.editDescription(
        userOf(request).tenantId,
        request.params.id,
        body.description ?? '',
        userOf(request),
      );
      return reply.status(204).send();
    },
  );

  app.delete(`${V1}/artifacts/:id`, { schema: { params: Id } }, async (request, reply) => {
    await artifacts.delete(userOf(request).tenantId, request.params.id, userOf(request));
    return reply.status(204).send();
  });

  app.get(`${V1}/artifacts/:id/download`, { schema: { params: Id } }, async (request) => {
    return artifacts.downloadLink(userOf(request).tenantId, request.params.id, baseUrl(request), 15 * 60);
  });

  app.get(`${V1}/limits/storage`, async (request) => artifacts.storageUsage(userOf(request).tenantId));

  // Releases.
  const releaseFilterV1 = (q: { name?: string; description?: string; device_type?: string; update_type?: string }) => ({
    name: contains(q.name),
    description: contains(q.description),
    deviceType: contains(q.device_type),
    updateType: q.update_type || undefined,
  });

  app.get(
    `${V1}/deployments/releases`,
    { schema: { querystring: Type.Object({ ...V1Filters, update_type: Type.Optional(Type.String()) }) } },
    async (request) => {
      const { releases } = await artifacts.listReleases(
        userOf(request).tenantId,
        releaseFilterV1(request.query),
        'name:asc',
      );
      return releases.map(releaseV1);
    },
  );

  app.get(
    `${V1}/deployments/releases/list`,
    {
      schema: {
        querystring: Type.Object({
          ...V1Filters,
          update_type: Type.Optional(Type.String()),
          ...Paging,
          sort: Type.Optional(ReleaseSorts),
        }),
      },
    },
    async (request, reply) => {
      const q = request.query;
      const page = pageOf(q);
      const { releases, total } = await artifacts.listReleases(
        userOf(request).tenantId,
        releaseFilterV1(request.query),
        q.sort ?? 'name:asc',
        page,
      );
      setPageHeaders(request, reply, page, total);
      return releases.map(releaseV1);
    },
  );

  app.get(
    `${V2}/deployments/releases`,
    {
      schema: {
        querystring: Type.Object({
          name: Type.Optional(Type.String()),
          tag: Type.Optional(Type.Union([Type.String(), Type.Array(Type.String())])),
          update_type: Type.Optional(Type.String()),
          ...Paging,
          sort: Type.Optional(ReleaseSorts),
        }),
      },
    },
    async (request, reply) => {
      const q = request.query;
      const page = pageOf(q);
      const tags =
        q.tag === undefined ? undefined : (Array.isArray(q.tag) ? q.tag : [q.tag]).map((t) => t.toLowerCase());
      const { releases, total } = await artifacts.listReleases(
        userOf(request).tenantId,
        { name: v2Match(q.name), tags, updateType: q.update_type || undefined },
        q.sort ?? 'name:asc',
        page,
      );
      setPageHeaders(request, reply, page, total);
      return releases.map(releaseV2);
    },
  );

  app.delete(
    `${V2}/deployments/releases`,
    { schema: { querystring: Type.Object({ name: Type.Union([Type.String(), Type.Array(Type.String())]) }) } },
    async (request, reply) => {
      const q = request.query;
      const names = (Array.isArray(q.name) ? q.name : [q.name]).filter((n) => n !== '');
      if (names.length === 0) throw new Invalid('at least one release name is required');
      const { activeDeployments } = await artifacts.deleteReleases(userOf(request).tenantId, names);
      if (activeDeployments.length) {
        return reply.status(409).send({
          error: 'active deployments are using some of the releases from the request',
          request_id: request.id,
          active_deployments: activeDeployments,
        });
      }
      return reply.status(204).send();
    },
  );

  app.get(`${V2}/deployments/releases/:release_name`, { schema: { params: ReleaseName } }, async (request) => {
    return releaseV2(await artifacts.getRelease(userOf(request).tenantId, request.params.release_name));
  });

  app.patch(
    `${V2}/deployments/releases/:release_name`,
    { schema: { params: ReleaseName, body: Type.Object({ notes: Type.Optional(Type.String()) }) } },
    async (request, reply) => {
      const body = request.body ?? {};
      await artifacts.updateReleaseNotes(
        userOf(request).tenantId,
        request.params.release_name,
        body.notes ?? '',
        userOf(request),
      );
      return reply.status(204).send();
    },
  );

  app.put(
    `${V2}/deployments/releases/:release_name/tags`,
    { schema: { params: ReleaseName, body: Type.Array(Type.String()) } },
    async (request, reply) => {
      await artifacts.setReleaseTags(
        userOf(request).tenantId,
        request.params.release_name,
        request.body ?? [],
        userOf(request),
      );
      return reply.status(204).send();
    },
  );

  app.get(`${V2}/releases/all/tags`, async (request) => artifacts.allReleaseTags(userOf(request).tenantId));
  app.get(`${V2}/releases/all/types`, async (request) => artifacts.allUpdateTypes(userOf(request).tenantId));
}
