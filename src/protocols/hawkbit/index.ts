// hawkBit DDI: one adapter for the controller routes devices poll and the operator routes (targets, settings, raw
// .swu uploads). Built once per app, so its subscription to decommissioning and its caches exist once.
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../services.js';
import { ddiRoutes } from './ddi.js';
import { ddiManagementRoutes } from './management.js';
import { DdiService } from './service.js';

export async function hawkbitProtocol(app: FastifyInstance, services: Services): Promise<DdiService> {
  const ddi = new DdiService(services);
  await app.register(ddiRoutes, { ddi, publicUrl: services.config.publicUrl });
  await app.register(ddiManagementRoutes, { ddi, services });
  return ddi;
}
