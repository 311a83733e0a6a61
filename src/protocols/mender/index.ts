// Mender: the device API (auth requests, inventory, deployments) and the management API (users, device
// admission, inventory and groups, artifacts and releases, deployments, device configuration and monitoring; the
// iot-manager and tenantadm calls the web GUI makes, answered for an open edition), registered in one place.
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../services.js';
import { artifactRoutes } from './artifacts.js';
import { auditlogRoutes } from './auditlogs.js';
import { deploymentRoutes } from './deployments.js';
import { deviceDeploymentRoutes } from './device-deployments.js';
import { deviceauthRoutes } from './deviceauth.js';
import { deviceconfigRoutes } from './deviceconfig.js';
import { deviceconnectRoutes } from './deviceconnect.js';
import { devicemonitorRoutes } from './devicemonitor.js';
import { inventoryRoutes } from './inventory.js';
import { iotManagerRoutes } from './iot-manager.js';
import { planRoutes } from './plans.js';
import { roleRoutes } from './roles.js';
import { tenantadmRoutes } from './tenantadm.js';
import { useradmRoutes } from './useradm.js';

export async function menderProtocol(app: FastifyInstance, services: Services): Promise<void> {
  await app.register(useradmRoutes, { services });
  await app.register(roleRoutes, { services });
  await app.register(deviceauthRoutes, { services });
  await app.register(inventoryRoutes, { services });
  await app.register(artifactRoutes, { services });
  await app.register(deploymentRoutes, { services });
  await app.register(deviceDeploymentRoutes, { services });
  await app.register(iotManagerRoutes, { services });
  await app.register(tenantadmRoutes, { services });
  await app.register(planRoutes, { services });
  await app.register(deviceconfigRoutes, { services });
  await app.register(devicemonitorRoutes, { services });
  await app.register(deviceconnectRoutes, { services });
  await app.register(auditlogRoutes, { services });
}
