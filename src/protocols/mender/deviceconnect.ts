// Mender deviceconnect: the device's websocket, the operator's websocket relayed to it, the connection status and
// the commands that reach the device through it (check-update, send-inventory). Shapes from
// ../shared/specs/mender/deviceconnect-*.yml; the protocol as the real programs speak it in research/deviceconnect.md.
import { randomUUID } from 'node:crypto';
import { posix } from 'node:path';
import multipart from '@fastify/multipart';
import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { formParts } from '../../api/multipart.js';
import { deviceOf, userOf } from '../../auth/guard.js';
import { octalMode, openDownload, upload } from '../../deviceconnect/file-transfer.js';
import { type DeviceChannel, DeviceLink } from '../../deviceconnect/links.js';
import { OperatorSession, type OperatorSessionOptions } from '../../deviceconnect/operator-session.js';
import { encodeProtoMsg, PROTO_MENDER, PROTO_SHELL } from '../../deviceconnect/protomsg.js';
import { Forbidden, Invalid, NotFound, TooManyRequests } from '../../errors.js';
import type { Services } from '../../services.js';

const M = '/api/management/v1/deviceconnect';
const DeviceParams = Type.Object({ id: Type.String() });
/**
 * Sessions one device socket carries at a time (terminals, file transfers, port forwards of every operator):
 * mender-connect itself refuses more than 16 shells. Counted where the socket is held.
 */
const MAX_SESSIONS = 32;
/** Largest file an operator may upload to a device. */
const MAX_UPLOAD = 256 * 1024 * 1024;

export async function deviceconnectRoutes(app: FastifyInstance, opts: { services: Services }): Promise<void> {
  const { connect, deviceLinks: links, deviceRelay: relay, devices, config } = opts.services;

  // `wsHandler` (not `websocket: true`) keeps the routes in the OpenAPI document, and a plain GET gets a 400.
  const upgradeRequired = async () => {
    throw new Invalid('websocket upgrade required');
  };

  app.route({
    method: 'GET',
    url: '/api/devices/v1/deviceconnect/connect',
    handler: upgradeRequired,
    wsHandler: (socket, request) => {
      const { tenantId, deviceId } = deviceOf(request);
      let version: number | undefined;
      let gone = false;
      const link = new DeviceLink(
        tenantId,
        deviceId,
        socket,
        config.deviceconnectPingInterval * 1000,
        request.log,
        (l) => {
          gone = true;
          links.remove(l);
          if (version !== undefined) void markDisconnected(version);
        },
      );
      const markDisconnected = (v: number) =>
        connect.disconnected(tenantId, deviceId, v).catch((error: unknown) => {
          request.log.error({ err: error }, 'deviceconnect: could not mark the device disconnected');
        });
      links.add(link);
      connect.connected(tenantId, deviceId, relay?.nodeId).then(
        (v) => {
          version = v;
          // The socket may have closed while the state was written: its disconnect is due now.
          if (gone) void markDisconnected(v);
        },
        (error: unknown) => {
          request.log.error({ err: error }, 'deviceconnect: could not mark the device connected');
          link.close(1011, 'internal error');
        },
      );
    },
  });

  /** The device, which must exist in the caller's tenant (404 otherwise). */
  const deviceOfTenant = async (request: FastifyRequest<{ Params: { id: string } }>) => {
    const user = userOf(request);
    const device = await devices.get(user.tenantId, request.params.id);
    return { user, device };
  };

  app.get<{ Params: { id: string } }>(`${M}/devices/:id`, { schema: { params: DeviceParams } }, async (request) => {
    const { user, device } = await deviceOfTenant(request);
    return connect.state(user.tenantId, device.id, device.created_ts);
  });

  /** The live socket of a device of the caller's tenant; 404 when it is not connected to this process. */
  const linkOf = async (request: FastifyRequest<{ Params: { id: string } }>) => {
    const { user, device } = await deviceOfTenant(request);
    // A device no longer accepted (rejected, decommissioning) may still hold a socket: nobody reaches it.
    if (device.status !== 'accepted' || device.decommissioning) {
      throw new NotFound('failed to connect to device: device disconnected');
    }
    let link: DeviceChannel | undefined = links.get(user.tenantId, device.id);
    if (!link && relay) {
      // Held by another process on this database: reach it through the relay.
      const owner = await connect.ownerOf(user.tenantId, device.id);
      if (owner && owner !== relay.nodeId) link = relay.remoteLink(user.tenantId, device.id, owner);
    }
    if (!link) throw new NotFound('failed to connect to device: device disconnected');
    return { user, link };
  };

  /** As linkOf, for a new session: a device carries at most MAX_SESSIONS at a time (429 past that). */
  const sessionLinkOf = async (request: FastifyRequest<{ Params: { id: string } }>) => {
    const found = await linkOf(request);
    if (found.link.sessions.size >= MAX_SESSIONS && found.link instanceof DeviceLink) {
      throw new TooManyRequests(5, 'too many sessions on this device');
    }
    return found;
  };

  // Everything the session needs is looked up before the upgrade: the operator may send its first message the
  // moment the socket opens, before an await in the handler would have attached the listeners.
  const prepared = new WeakMap<FastifyRequest, OperatorSessionOptions>();
  app.route<{ Params: { id: string } }>({
    method: 'GET',
    url: `${M}/devices/:id/connect`,
    handler: upgradeRequired,
    schema: { params: DeviceParams },
    // Refusals answer before the upgrade, as plain HTTP errors in Mender's shape.
    preHandler: async (request) => {
      const { user, link } = await sessionLinkOf(request);
      const settings = await connect.settings(user.tenantId);
      prepared.set(request, {
        link,
        socket: undefined as never,
        sessionId: randomUUID(),
        userId: user.userId,
        settings,
        connect,
        log: request.log,
      });
    },
    wsHandler: (socket, request) => {
      const options = prepared.get(request);
      if (!options?.link.isOpen) {
        socket.close(1011, 'device disconnected');
        return;
      }
      new OperatorSession({ ...options, socket }).start();
    },
  });

  for (const command of ['check-update', 'send-inventory'] as const) {
    app.post<{ Params: { id: string } }>(
      `${M}/devices/:id/${command}`,
      { schema: { params: DeviceParams } },
      async (request, reply) => {
        const { user, link } = await linkOf(request);
        link.send(encodeProtoMsg({ proto: PROTO_MENDER, typ: command, props: { user_id: user.userId } }));
        return reply.code(202).send();
      },
    );
  }

  const fileTransferAllowed = async (tenantId: string) => {
    if (!(await connect.settings(tenantId)).file_transfer)
      throw new Forbidden('file transfer is disabled for this tenant');
  };

  const DownloadQuery = Type.Object({ path: Type.String({ minLength: 1 }) });
  for (const method of ['GET', 'HEAD'] as const) {
    app.route<{ Params: { id: string }; Querystring: { path: string } }>({
      method,
      url: `${M}/devices/:id/download`,
      schema: { params: DeviceParams, querystring: DownloadQuery },
      exposeHeadRoute: false,
      handler: async (request, reply) => {
        const path = request.query.path;
        if (!posix.isAbsolute(path)) throw new Invalid('path must be absolute');
        const { user, link } = await sessionLinkOf(request);
        await fileTransferAllowed(user.tenantId);
        const download = await openDownload(link, path, config.deviceconnectTimeout * 1000);
        const { info } = download;
        await connect.record({
          tenantId: user.tenantId,
          actorId: user.userId,
          deviceId: link.deviceId,
          action: 'download_file',
          sessionId: download.sessionId,
          detail: { path: info.path, size: info.size },
        });
        reply
          .code(200)
          .header('content-type', 'application/octet-stream')
          .header(
            'content-disposition',
            `attachment; filename="${posix.basename(info.path).replace(/["\\\r\n]/g, '_')}"`,
          )
          .header('x-men-file-path', info.path)
          .header('x-men-file-uid', String(info.uid))
          .header('x-men-file-gid', String(info.gid))
          .header('x-men-file-mode', octalMode(info.mode))
          .header('x-men-file-size', String(info.size));
        if (method === 'HEAD') {
          download.close();
          return reply.send();
        }
        return reply.send(download.stream());
      },
    });
  }

  await app.register(async (uploads) => {
    await uploads.register(multipart, {
      limits: { fileSize: MAX_UPLOAD, files: 1, fields: 10, fieldSize: 4096, parts: 20 },
    });
    uploads.put<{ Params: { id: string } }>(
      `${M}/devices/:id/upload`,
      { schema: { params: DeviceParams } },
      async (request, reply) => {
        if (!request.isMultipart()) throw new Invalid('request must be multipart/form-data');
        const { user, link } = await sessionLinkOf(request);
        await fileTransferAllowed(user.tenantId);
        const fields: Record<string, string> = {};
        // As Mender: the fields before `file` count, parsing stops at `file` (mender-cli sends `mode` after it).
        for await (const part of formParts(request)) {
          if (part.type === 'field') {
            fields[part.fieldname] = String(part.value);
            continue;
          }
          if (part.fieldname !== 'file') throw new Invalid(`unexpected file part ${JSON.stringify(part.fieldname)}`);
          const path = fields.path ?? '';
          if (!posix.isAbsolute(path)) throw new Invalid('path must be absolute');
          const number = (name: string, radix: number) => {
            if (fields[name] === undefined) return undefined;
            const value = Number.parseInt(fields[name], radix);
            if (
              !Number.isInteger(value) ||
              value < 0 ||
              String(value.toString(radix)) !== fields[name].replace(/^0+(?=.)/, '')
            ) {
              throw new Invalid(`invalid ${name}`);
            }
            return value;
          };
          const target = {
            path,
            srcPath: part.filename || posix.basename(path),
            mode: number('mode', 8),
            uid: number('uid', 10),
            gid: number('gid', 10),
          };
          const { size, sessionId } = await upload(
            link,
            target,
            part.file,
            () => part.file.truncated,
            config.deviceconnectTimeout * 1000,
          );
          await connect.record({
            tenantId: user.tenantId,
            actorId: user.userId,
            deviceId: link.deviceId,
            action: 'upload_file',
            sessionId,
            detail: { path, size },
          });
          return reply.code(201).send();
        }
        throw new Invalid('missing file part');
      },
    );
  });

  // Flotilla's own: the tenant's switches for terminal, file transfer and port forward (Mender Enterprise keeps
  // them in RBAC roles and the device's mender-connect.conf; there is no public route for them).
  const Settings = Type.Object(
    { terminal: Type.Boolean(), file_transfer: Type.Boolean(), port_forward: Type.Boolean() },
    { additionalProperties: false },
  );
  app.get(`${M}/settings`, { schema: { response: { 200: Settings } } }, async (request) =>
    connect.settings(userOf(request).tenantId),
  );
  app.put<{ Body: Static<typeof Settings> }>(
    `${M}/settings`,
    { schema: { body: Settings } },
    async (request, reply) => {
      await connect.setSettings(userOf(request).tenantId, request.body, userOf(request));
      return reply.code(204).send();
    },
  );

  // Playback of a recorded terminal session: its output as `shell` messages and its pauses as `delay` messages
  // (`props.delay_value` in ms), one message per `sleep_ms` (default 100), then close 1000.
  const PlaybackParams = Type.Object({ session_id: Type.String() });
  const PlaybackQuery = Type.Object({ sleep_ms: Type.Optional(Type.Integer({ minimum: 0, maximum: 10_000 })) });
  const recordings = new WeakMap<FastifyRequest, { delayMs: number; data: Buffer }[]>();
  app.route<{ Params: { session_id: string }; Querystring: { sleep_ms?: number } }>({
    method: 'GET',
    url: `${M}/sessions/:session_id/playback`,
    schema: { params: PlaybackParams, querystring: PlaybackQuery },
    handler: upgradeRequired,
    preHandler: async (request) => {
      const recording = await connect.recording(userOf(request).tenantId, request.params.session_id);
      if (!recording) throw new NotFound('session not found');
      recordings.set(request, recording);
    },
    wsHandler: (socket, request) => {
      const recording = recordings.get(request) ?? [];
      const sid = request.params.session_id;
      const sleepMs = request.query.sleep_ms ?? 100;
      socket.on('error', () => undefined);
      void (async () => {
        for (const piece of recording) {
          const messages = [];
          if (piece.delayMs > 0) {
            messages.push({ proto: PROTO_SHELL, typ: 'delay', sid, props: { delay_value: piece.delayMs } });
          }
          for (let at = 0; at < piece.data.length; at += 4096) {
            messages.push({ proto: PROTO_SHELL, typ: 'shell', sid, body: piece.data.subarray(at, at + 4096) });
          }
          for (const message of messages) {
            if (socket.readyState !== socket.OPEN) return;
            socket.send(encodeProtoMsg(message));
            if (sleepMs > 0) await new Promise((resolve) => setTimeout(resolve, sleepMs));
          }
        }
        socket.close(1000);
      })();
    },
  });
}
