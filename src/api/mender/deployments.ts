// Mender deployments routes: thin translation between the wire shapes of ../shared/specs/mender and the domain.
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../services.js';

export async function deploymentRoutes(_app: FastifyInstance, _opts: { services: Services }): Promise<void> {}
