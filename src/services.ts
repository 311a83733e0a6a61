// Wires the domain services for one server process. Nothing here is global: tests build as many as they like.
import { parseMenderArtifact } from './artifacts/parse.js';
import { ArtifactService } from './artifacts/service.js';
import { AuditService, recordAudit } from './audit/service.js';
import type { ScopeLookup } from './auth/permissions.js';
import { ConfigurationService } from './configuration/service.js';
import type { CoreDeps } from './core.js';
import { DeploymentService } from './deployments/service.js';
import { ClusterRelay } from './deviceconnect/cluster.js';
import { DeviceLinks } from './deviceconnect/links.js';
import { encodeProtoMsg, PROTO_MENDER } from './deviceconnect/protomsg.js';
import { ConnectService } from './deviceconnect/service.js';
import { DeviceService } from './devices/service.js';
import { NotFound } from './errors.js';
import { InventoryService } from './inventory/service.js';
import { MonitorService } from './monitor/service.js';
import { UserService } from './users/service.js';

export interface Services extends CoreDeps {
  users: UserService;
  inventory: InventoryService;
  devices: DeviceService;
  artifacts: ArtifactService;
  deployments: DeploymentService;
  configuration: ConfigurationService;
  monitor: MonitorService;
  audit: AuditService;
  /** Device connect: its rules, and this process's live device sockets. */
  connect: ConnectService;
  deviceLinks: DeviceLinks;
  /** Device connect between processes sharing a PostgreSQL database; none on SQLite (one process). */
  deviceRelay?: ClusterRelay;
  /** What the auth guard reads to check a device-group or release-tag scope (src/auth/permissions.ts). */
  scopes: ScopeLookup;
}

const undefinedIfNotFound = (error: unknown) => {
  if (error instanceof NotFound) return undefined;
  throw error;
};

export function createServices(core: CoreDeps): Services {
  const inventory = new InventoryService(core);
  const artifacts = new ArtifactService(core, parseMenderArtifact);
  const deployments = new DeploymentService(core, artifacts, inventory);
  const devices = new DeviceService(core, inventory);
  // Deletes see active deployments; a decommissioned device's deployments end in the same transaction.
  artifacts.setUsage(deployments);
  devices.onDecommission((tenantId, deviceId, trx) => deployments.decommissionDevice(tenantId, deviceId, trx));
  // Mender's deviceconfig knows a device from its acceptance to its decommissioning.
  const configuration = new ConfigurationService(core, deployments);
  devices.onAccept((tenantId, deviceId, trx) => configuration.provision(tenantId, deviceId, trx));
  devices.onDecommission((tenantId, deviceId, trx) => configuration.remove(tenantId, deviceId, trx));
  // Configuration changes are audited in their own transaction (Mender's set_configuration / deploy_configuration).
  configuration.onChange((change, trx) =>
    recordAudit(trx, change.tenantId, {
      actor: change.actor,
      action: change.action,
      object: { type: 'device', id: change.deviceId },
      change: JSON.stringify(change.configuration),
      meta: change.deploymentId ? { deployment_id: [change.deploymentId] } : undefined,
    }),
  );
  const deviceLinks = new DeviceLinks();
  // A deployed configuration reaches a device on device connect at once: it is told to check for updates now, as
  // Mender's deploy workflow does (a device whose socket another process holds checks at its next poll).
  configuration.onDeployed((tenantId, deviceId) => {
    const link = deviceLinks.get(tenantId, deviceId);
    if (link?.isOpen) link.send(encodeProtoMsg({ proto: PROTO_MENDER, typ: 'check-update', props: {} }));
  });
  return {
    ...core,
    users: new UserService(core),
    inventory,
    devices,
    artifacts,
    deployments,
    configuration,
    monitor: new MonitorService(core, inventory),
    audit: new AuditService(core),
    connect: new ConnectService(core),
    deviceLinks,
    scopes: {
      deviceGroup: (tenantId, deviceId) => inventory.deviceGroup(tenantId, deviceId).catch(undefinedIfNotFound),
      releaseTags: (tenantId, name) =>
        artifacts.getRelease(tenantId, name).then((release) => release.tags, undefinedIfNotFound),
    },
    deviceRelay: core.store.dialect === 'postgres' ? new ClusterRelay(core.config.databaseUrl, deviceLinks) : undefined,
  };
}

export type { CoreDeps } from './core.js';
