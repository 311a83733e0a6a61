// Operations: liveness and readiness probes, Prometheus metrics, and the API browser over the OpenAPI document.
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import type { BlobReaper } from '../artifacts/reaper.js';
import type { Broker } from '../broker/broker.js';
import type { Services } from '../services.js';
import { installHealth } from './health.js';
import { installMetrics } from './metrics.js';

/** Where the interactive API browser is served (Swagger UI reading /api/openapi.json). */
export const API_BROWSER_PATH = '/api/docs';

export async function operations(
  app: FastifyInstance,
  services: Services,
  broker: () => Broker | undefined,
  reaper?: BlobReaper,
): Promise<void> {
  const { store, blobs, config } = services;
  installHealth(app, { store, blobs, config, broker });
  installMetrics(app, { store, deployments: services.deployments, config, broker, reaper });
  await app.register(swaggerUi, { routePrefix: API_BROWSER_PATH, uiConfig: { deepLinking: true } });
}
