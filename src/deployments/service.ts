// Deployments: the one device-deployment state machine that every protocol adapter maps onto.
import type { ArtifactService } from '../artifacts/service.js';
import type { InventoryService } from '../inventory/service.js';
import type { CoreDeps } from '../services.js';

export class DeploymentService {
  constructor(
    readonly deps: CoreDeps,
    readonly artifacts: ArtifactService,
    readonly inventory: InventoryService,
  ) {}
}
