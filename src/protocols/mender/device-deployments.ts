// Mender device deployments API (deployments-devices-v1.yml and the enterprise v2 routes of seed 001): /next,
// status and log reports, the update control map, and the configuration download. Thin: the rules are in
// src/deployments.
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { sendBytes } from '../../api/downloads.js';
import { publicBaseOf } from '../../api/public-url.js';
import { isJsonObject } from '../../api/schemas.js';
import { deviceOf } from '../../auth/guard.js';
import type { Assignment, AttemptRef, ReportResult } from '../../deployments/attempts.js';
import type { ControlMapWire } from '../../deployments/rules/controlmap.js';
import type { DeviceProvides } from '../../deployments/rules/matching.js';
import { Conflict, Forbidden, Invalid, NotFound } from '../../errors.js';
import { crashAt } from '../../ops/crash.js';
import type { Services } from '../../services.js';
import { parseStatusReport } from './status-report.js';

const V1 = '/api/devices/v1/deployments';
const V2 = '/api/devices/v2/deployments';

const Id = Type.Object({ id: Type.String() });

/** What the device API answers to /next when there is something to do. */
export interface DeploymentInstructions {
  id: string;
  artifact: {
    id: string;
    artifact_name: string;
    source: { uri: string; expire: string };
    device_types_compatible: string[];
  };
  update_control_map?: ControlMapWire;
}

/** What a configuration link's signature covers: the path and the tenant. */
export function configurationSignedPath(path: string, tenantId: string): string {
  return `${path}|${tenantId}`;
}

/** Paths of the configuration download; the route serves `configurationPath(...)` behind a signed link. */
export function configurationPath(deploymentId: string, deviceType: string, deviceId: string): string {
  return `/api/devices/v1/deployments/download/configuration/${encodeURIComponent(deploymentId)}/${encodeURIComponent(deviceType)}/${encodeURIComponent(deviceId)}`;
}

/** Mender's answers to a report the domain refused. */
function refusal(result: ReportResult | 'ok'): Error | undefined {
  if (result === 'gone' || result === 'ended') return new NotFound('deployment not found');
  if (result === 'aborted') return new Conflict('Deployment aborted');
  if (result === 'decommissioned') return new Conflict('Device decommissioned');
  return undefined;
}

/** Mender's device log body: every message with a timestamp (a date), a level and a message. */
function parseLog(body: unknown): { timestamp: string; level: string; message: string }[] {
  const messages = isJsonObject(body) ? body.messages : undefined;
  if (!Array.isArray(messages) || messages.length === 0) throw new Invalid('messages: cannot be blank.');
  return messages.map((m: unknown, index) => {
    const entry = isJsonObject(m) ? m : {};
    const text = (key: 'timestamp' | 'level' | 'message'): string => {
      const value = entry[key];
      if (typeof value !== 'string') throw new Invalid(`messages[${index}].${key}: cannot be blank.`);
      return value;
    };
    const timestamp = text('timestamp');
    const level = text('level');
    const message = text('message');
    if (Number.isNaN(Date.parse(timestamp))) throw new Invalid(`messages[${index}].timestamp: must be a valid date.`);
    return { timestamp, level, message };
  });
}

/** A flat map of strings (the v1 POST body, v2 device_provides); anything else is a 400. */
function providesOf(value: unknown): DeviceProvides {
  if (!isJsonObject(value)) throw new Invalid('failed to decode request body: expected an object');
  for (const [key, v] of Object.entries(value)) {
    if (typeof v !== 'string') throw new Invalid(`failed to decode request body: ${key} must be a string`);
  }
  return value as DeviceProvides;
}

export async function deviceDeploymentRoutes(fastify: FastifyInstance, { services }: { services: Services }) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const deployments = services.deployments;
  const baseUrl = (request: FastifyRequest) => publicBaseOf(request, services.config.publicUrl);

  const attempts = deployments.attempts;

  const instructions = async (
    request: FastifyRequest,
    tenantId: string,
    deviceId: string,
    assignment: Exclude<Assignment, { kind: 'none' | 'conflict' }>,
  ): Promise<DeploymentInstructions> => {
    let artifact: DeploymentInstructions['artifact'];
    if (assignment.kind === 'install') {
      const { id, name, device_types } = assignment.artifact;
      artifact = {
        id,
        artifact_name: name,
        source: await services.artifacts.linkFor(tenantId, assignment.artifact, baseUrl(request)),
        device_types_compatible: [...device_types],
      };
    } else {
      // A configuration deployment: the artifact is generated when the device downloads it, behind a signed link
      // whose signature covers the tenant, so it cannot be pointed at another tenant.
      const expiresAt = new Date(Date.now() + services.config.downloadLinkTtl * 1000);
      const path = configurationPath(assignment.deploymentId, assignment.deviceType, deviceId);
      const signed = services.links.sign(configurationSignedPath(path, tenantId), expiresAt);
      const uri = `${baseUrl(request)}${path}?tenant_id=${encodeURIComponent(tenantId)}&expires=${signed.expires}&signature=${signed.signature}`;
      artifact = {
        id: assignment.deploymentId,
        artifact_name: assignment.artifactName,
        source: { uri, expire: expiresAt.toISOString() },
        device_types_compatible: [assignment.deviceType],
      };
    }
    const out: DeploymentInstructions = { id: assignment.deploymentId, artifact };
    if (assignment.controlMap) out.update_control_map = assignment.controlMap;
    return out;
  };

  const answerNext = async (
    request: FastifyRequest,
    reply: FastifyReply,
    provides: DeviceProvides,
    full: boolean,
    controlMap?: boolean,
  ) => {
    const { tenantId, deviceId } = deviceOf(request);
    if (typeof provides.device_type !== 'string' || !provides.device_type) {
      throw new Invalid('device_type: cannot be blank.');
    }
    if (typeof provides.artifact_name !== 'string' || !provides.artifact_name) {
      throw new Invalid('artifact_name: cannot be blank.');
    }
    const assignment = await attempts.assign(tenantId, deviceId, { provides, checkDepends: full, controlMap });
    if (assignment.kind === 'conflict') throw new Conflict('Device provided conflicting request data');
    if (assignment.kind === 'none') return reply.status(204).send();
    return reply.status(200).send(await instructions(request, tenantId, deviceId, assignment));
  };

  const ref = (request: FastifyRequest, deploymentId: string): AttemptRef => {
    const { tenantId, deviceId } = deviceOf(request);
    return { tenantId, deviceId, deploymentId };
  };

  app.get(
    `${V1}/device/deployments/next`,
    {
      schema: {
        querystring: Type.Object({
          artifact_name: Type.Optional(Type.String()),
          device_type: Type.Optional(Type.String()),
        }),
      },
    },
    async (request, reply) => {
      const q = request.query;
      const provides = { artifact_name: q.artifact_name ?? '', device_type: q.device_type ?? '' } as DeviceProvides;
      return answerNext(request, reply, provides, false);
    },
  );

  app.post(`${V1}/device/deployments/next`, async (request, reply) =>
    answerNext(request, reply, providesOf(request.body), true),
  );

  app.post(`${V2}/device/deployments/next`, async (request, reply) => {
    const body = request.body;
    if (!isJsonObject(body)) throw new Invalid('failed to decode request body: expected an object');
    if (body.update_control_map !== undefined && typeof body.update_control_map !== 'boolean') {
      throw new Invalid('failed to decode request body: update_control_map must be a boolean');
    }
    return answerNext(
      request,
      reply,
      providesOf(body.device_provides),
      true,
      body.update_control_map ? true : undefined,
    );
  });

  app.put(`${V1}/device/deployments/:id/status`, { schema: { params: Id } }, async (request, reply) => {
    const report = parseStatusReport(request.body);
    // The crash harness dies inside the report's transaction (only then is one forced: the hot path has none).
    const crash = services.config.crashAt === 'mender.status-report';
    const result = await attempts.report(ref(request, request.params.id), report.status, {
      substate: report.substate,
      alongside: crash ? async () => crashAt(services.config, 'mender.status-report') : undefined,
    });
    const error = refusal(result);
    if (error) throw error;
    return reply.status(204).send();
  });

  app.put(`${V1}/device/deployments/:id/log`, { schema: { params: Id } }, async (request, reply) => {
    const lines = parseLog(request.body);
    const error = refusal(await attempts.replaceLog(ref(request, request.params.id), lines));
    if (error) throw error;
    return reply.status(204).send();
  });

  app.get(`${V2}/device/deployments/:id/update_control_map`, { schema: { params: Id } }, async (request) => {
    const map = await attempts.controlMap(ref(request, request.params.id));
    if (!map) throw new NotFound('deployment not found');
    return { update_control_map: map };
  });

  // The signed link of a configuration deployment: the link is the credential (the spec's x-men-* query names
  // are Mender's; Flotilla's links carry `expires` and `signature` like its artifact links, plus tenant_id).
  app.get(
    `${V1}/download/configuration/:deployment_id/:device_type/:device_id`,
    {
      schema: {
        params: Type.Object({ deployment_id: Type.String(), device_type: Type.String(), device_id: Type.String() }),
        querystring: Type.Object({
          expires: Type.Optional(Type.String()),
          signature: Type.Optional(Type.String()),
          tenant_id: Type.Optional(Type.String()),
        }),
      },
    },
    async (request, reply) => {
      const p = request.params;
      const q = request.query;
      const path = configurationPath(p.deployment_id, p.device_type, p.device_id);
      if (!q.tenant_id || !services.links.verify(configurationSignedPath(path, q.tenant_id), q)) {
        throw new Forbidden('the download link has expired or the signature is invalid');
      }
      const artifact = await deployments.configurationArtifact(
        q.tenant_id,
        p.deployment_id,
        p.device_type,
        p.device_id,
      );
      return sendBytes(request, reply, artifact, `${p.deployment_id}.mender`, 'application/vnd.mender-artifact');
    },
  );
}
