// Builds a ready server from a Config: store, migrations, default tenant, services, routes. Nothing global.
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import swagger from '@fastify/swagger';
import websocket from '@fastify/websocket';
import Fastify, { type FastifyInstance, LogController } from 'fastify';
import { downloadRoutes } from './api/downloads.js';
import { checkJsonDepth } from './api/json-depth.js';
import { drainUnreadBody } from './api/unread-body.js';
import { uploadRoutes } from './api/uploads.js';
import { BlobReaper } from './artifacts/reaper.js';
import { removeStaleWorkFolders } from './artifacts/work-folders.js';
import { AuditPruner } from './audit/pruner.js';
import { installAuthGuard, operatorCheck } from './auth/guard.js';
import { RevocationFeed } from './auth/revocations.js';
import { TokenIssuer } from './auth/tokens.js';
import { FsBlobStore } from './blobs/fs.js';
import { LinkSigner } from './blobs/links.js';
import type { Config } from './config.js';
import { DeploymentSweeper } from './deployments/sweeper.js';
import { operations } from './ops/index.js';
import { loggerOptions, logRequests } from './ops/logging.js';
import { operatorTenantRoutes } from './protocols/admin/tenants.js';
import { hawkbitProtocol } from './protocols/hawkbit/index.js';
import { kantoProtocol } from './protocols/kanto/index.js';
import { menderError, menderErrorHandler } from './protocols/mender/errors.js';
import { menderProtocol } from './protocols/mender/index.js';
import { createServices, type Services } from './services.js';
import { openStore, type Store } from './store/db.js';
import { Leases } from './store/leases.js';
import { migrate } from './store/migrate.js';
import { TenantService } from './tenants/service.js';
import { checkFields, checkTexts } from './text.js';
import { webUiRoutes } from './web/ui.js';

declare module 'fastify' {
  interface FastifyInstance {
    services: Services;
  }
}

export interface BuildOptions {
  /** PostgreSQL schema for this app's tables (tests isolate themselves with it). */
  pgSchema?: string;
}

/** Opens the store, applies migrations and makes sure the default tenant and first admin exist. */
export async function prepareStore(
  config: Config,
  options: BuildOptions = {},
): Promise<{ store: Store; services: Services }> {
  const store = await openStore({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    pgSchema: options.pgSchema,
    statementTimeout: config.statementTimeout,
  });
  try {
    await migrate(store.db);
    const revocations = new RevocationFeed(store);
    const tenants = new TenantService(store, revocations);
    const tenant = await tenants.ensureDefault(config.defaultTenantName, config.defaultTenantToken);
    const tokens = await TokenIssuer.load(store, revocations);
    // The AWS SDK is loaded only when S3 is configured: it costs every other start (and test) a quarter second.
    const blobs = config.s3
      ? new (await import('./blobs/s3.js')).S3BlobStore(config.s3)
      : new FsBlobStore(join(config.dataDir, 'blobs'));
    await blobs.cleanup();
    await removeStaleWorkFolders(config.dataDir);
    const links = new LinkSigner(tokens.deriveSecret('download-links'));
    const services = createServices({ config, store, tenants, tokens, blobs, links });
    if (config.adminEmail && config.adminPassword) {
      await services.users.create(tenant.id, config.adminEmail, config.adminPassword).catch((error: unknown) => {
        if ((error as { status?: number }).status !== 409) throw error;
      });
    }
    return { store, services };
  } catch (error) {
    await store.close();
    throw error;
  }
}

export async function buildApp(config: Config, options: BuildOptions = {}): Promise<FastifyInstance> {
  const { store, services } = await prepareStore(config, options);
  const app = Fastify({
    logger: loggerOptions(config),
    // One log line per request (./ops/logging.ts) instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.maxJsonBody,
    // X-Forwarded-For / -Proto / -Host count only from these peers (request.ip, request.protocol, request.host).
    // (A hop count as the function proxy-addr makes of one: Fastify's types leave numbers out.)
    trustProxy:
      typeof config.trustProxy === 'number'
        ? (_address: string, hop: number) => hop < (config.trustProxy as number)
        : config.trustProxy,
    genReqId: () => randomUUID(),
    requestIdHeader: false,
  });
  app.decorate('services', services);
  logRequests(app);
  app.addHook('onClose', async () => {
    await services.blobs.close?.();
    await store.close();
  });
  // Token liveness and tenants are cached per process, kept honest by the revocation feed; check-ins are written
  // behind. Both run whenever the app serves (tests that only inject included) and stop before the store closes.
  app.addHook('onReady', async () => {
    await services.tokens.revocations.start();
    services.devices.startCheckIns();
  });
  app.addHook('preClose', async () => {
    await services.devices.stopCheckIns();
    await services.tokens.revocations.stop();
  });
  // Background deployment work runs once the server listens (not in tests that only inject requests), under a
  // database lease shared by every process on this database.
  const sweeper = new DeploymentSweeper(
    store,
    services.deployments,
    new Leases(store, `sweeper:${randomUUID()}`),
    config,
    app.log,
  );
  app.addHook('onListen', async () => sweeper.start());
  app.addHook('preClose', () => sweeper.stop());
  const auditPruner = new AuditPruner(services.audit, new Leases(store, `audit:${randomUUID()}`), app.log);
  app.addHook('onListen', async () => auditPruner.start());
  app.addHook('preClose', () => auditPruner.stop());
  // Blobs and rows are reconciled once the server listens and then periodically (not in tests that only inject).
  const reaper = new BlobReaper(store, services.blobs, new Leases(store, `reaper:${randomUUID()}`), config, app.log);
  app.addHook('onListen', async () => reaper.start());
  app.addHook('preClose', () => reaper.stop());
  app.addHook('onRequest', async (request, reply) => {
    reply.header('X-MEN-RequestID', request.id);
  });
  drainUnreadBody(app);

  // JSON bodies keep their exact bytes: device auth requests are signed over them.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    request.rawBody = body as Buffer;
    try {
      checkJsonDepth(body as Buffer);
    } catch (error) {
      return done(error as Error, undefined);
    }
    parseJson(request, body as unknown as string, done);
  });

  // Text that PostgreSQL cannot store (NUL) or that is not Unicode (lone surrogates) is refused with a 400 before
  // any route or database sees it, on every API family (each answers in its own error shape).
  app.addHook('preValidation', async (request) => {
    checkFields(request.params, 'path');
    checkFields(request.query, 'query');
    checkTexts(request.body, 'request body');
  });

  app.setErrorHandler(menderErrorHandler);
  app.setNotFoundHandler((request, reply) => menderError(reply, request, 404, 'not found'));
  // Websockets (device connect) share the routes, hooks and auth guard of plain requests. Registered before the
  // guard: its onRequest hook marks upgrade requests, so that a refused upgrade's socket is closed after the
  // answer. Frames past 64 KiB are refused (close 1009): devices read at most 8 KiB; the relay splits a paste.
  await app.register(websocket, { options: { maxPayload: 64 * 1024 } });
  app.addHook('onReady', async () => services.deviceRelay?.start(app.log));
  app.addHook('preClose', async () => {
    services.deviceLinks.closeAll();
    await services.deviceRelay?.stop();
  });
  installAuthGuard(
    app,
    services.tokens,
    {
      userToken: (tenantId, id) => services.users.tokenAlive(tenantId, id),
      deviceToken: (tenantId, id) => services.devices.tokenAlive(tenantId, id),
    },
    services.scopes,
    { serverAdmin: operatorCheck(config.operatorToken) },
  );

  // The OpenAPI document is generated from the route schemas and served at /api/openapi.json.
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Flotilla',
        version: '0.1.0',
        description:
          'Mender-compatible device and management APIs, hawkBit DDI (/{tenant}/controller/v1) and its operator ' +
          'routes (/api/ddi/v1), Kanto operator routes (/api/kanto/v1), signed links, and operations (/health, ' +
          '/ready, /metrics). Browse it at /api/docs.',
      },
      components: {
        securitySchemes: {
          ManagementJWT: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
          DeviceJWT: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
          Basic: { type: 'http', scheme: 'basic' },
          OperatorToken: { type: 'http', scheme: 'bearer', description: 'FLOTILLA_ADMIN_TOKEN' },
        },
      },
    },
  });
  app.get('/api/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  await menderProtocol(app, services);
  await app.register(downloadRoutes, { services });
  await app.register(uploadRoutes, { services });
  await hawkbitProtocol(app, services);
  await app.register(operatorTenantRoutes, { services });
  // Kanto's MQTT broker and adapter start with the app (also for tests that only inject) and stop before the store.
  const kanto = await kantoProtocol(app, services, config);
  // Health, readiness, metrics and the API browser (/api/docs); they read the broker when asked, as it starts later.
  await operations(app, services, () => kanto.broker, reaper);
  await app.register(webUiRoutes);
  return app;
}
