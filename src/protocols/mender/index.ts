// Mender: the device API (auth requests, inventory, deployments) and the management API (users, device
// admission, inventory and groups, artifacts and releases, deployments), registered in one place.
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../services.js';
import { artifactRoutes } from './artifacts.js';
import { deploymentRoutes } from './deployments.js';
import { deviceDeploymentRoutes } from './device-deployments.js';
import { deviceauthRoutes } from './deviceauth.js';
import { deviceconnectRoutes } from './deviceconnect.js';
import { inventoryRoutes } from './inventory.js';
import { useradmRoutes } from './useradm.js';

export async function menderProtocol(app: FastifyInstance, services: Services): Promise<void> {
  await app.register(useradmRoutes, { services });
  await app.register(deviceauthRoutes, { services });
  await app.register(inventoryRoutes, { services });
  await app.register(artifactRoutes, { services });
  await app.register(deploymentRoutes, { services });
  await app.register(deviceDeploymentRoutes, { services });
  await app.register(deviceconnectRoutes, { services });
}
