// Eclipse Kanto: the broker and adapter (started when the app is ready, stopped before the store closes) and the
// operator routes for things and desired states.
import type { FastifyInstance } from 'fastify';
import type { Config } from '../../config.js';
import type { Services } from '../../services.js';
import { kantoRoutes } from './routes.js';
import { Kanto } from './service.js';

export async function kantoProtocol(app: FastifyInstance, services: Services, config: Config): Promise<Kanto> {
  const kanto = new Kanto(services, config, app.log);
  app.decorate('kanto', kanto);
  app.addHook('onReady', () => kanto.start());
  app.addHook('preClose', () => kanto.stop());
  await app.register(kantoRoutes, { services, kanto });
  return kanto;
}
