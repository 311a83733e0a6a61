// Device configuration (Mender deviceconfig): the operator's configured map and the device's reported one, and
// deploying the configured map as a `configuration` deployment on the one deployment state machine. Each change
// is one transaction; hooks let other domains (the audit log) write in it, and learn of a deployment after commit
// (device connect nudges the device to check now).
import type { Transaction } from 'kysely';
import type { UserPrincipal } from '../auth/principal.js';
import type { CoreDeps } from '../core.js';
import type { ConfigurationDeploymentOptions, DeploymentService } from '../deployments/service.js';
import { requireDevice } from '../devices/store.js';
import { Invalid, NotFound } from '../errors.js';
import { now } from '../store/db.js';
import type { Tables } from '../store/schema.js';
import { type Configuration, configurationOf } from './rules.js';
import { ConfigurationStore } from './store.js';

type Trx = Transaction<Tables>;

/** Mender's DeviceConfiguration as the management API answers it. */
export interface DeviceConfigurationView {
  id: string;
  configured: Configuration;
  reported: Configuration;
  deployment_id?: string;
  updated_ts: string;
  reported_ts?: string;
}

/** An operator's change, as an audit entry would record it (Mender's set_configuration / deploy_configuration). */
export interface ConfigurationChange {
  tenantId: string;
  deviceId: string;
  actor: UserPrincipal;
  action: 'set_configuration' | 'deploy_configuration';
  configuration: Configuration;
  deploymentId?: string;
}

/** Runs inside the change's transaction: what it writes commits or rolls back with the change. */
export type ConfigurationChangeHook = (change: ConfigurationChange, trx: Trx) => Promise<void>;
/** Runs after a configuration deployment committed (e.g. to tell a connected device to check for it now). */
export type ConfigurationDeployedHook = (tenantId: string, deviceId: string, deploymentId: string) => void;

export class ConfigurationService {
  private readonly changeHooks: ConfigurationChangeHook[] = [];
  private readonly deployedHooks: ConfigurationDeployedHook[] = [];

  constructor(
    private readonly deps: CoreDeps,
    private readonly deployments: DeploymentService,
  ) {}

  onChange(hook: ConfigurationChangeHook): void {
    this.changeHooks.push(hook);
  }

  onDeployed(hook: ConfigurationDeployedHook): void {
    this.deployedHooks.push(hook);
  }

  private store(tenantId: string, trx?: Trx): ConfigurationStore {
    return new ConfigurationStore(trx ?? this.deps.store.db, tenantId);
  }

  /** A device was accepted: it gets its (empty) record, in the acceptance's transaction. */
  provision(tenantId: string, deviceId: string, trx: Trx): Promise<void> {
    return this.store(tenantId, trx).provision(deviceId, now());
  }

  /** A device was decommissioned: its record goes, in the decommission's transaction. */
  remove(tenantId: string, deviceId: string, trx: Trx): Promise<void> {
    return this.store(tenantId, trx).remove(deviceId);
  }

  /** The device's own view: the configured map; 404 for a device the service does not know. */
  async configuredFor(tenantId: string, deviceId: string): Promise<Configuration> {
    const row = await this.store(tenantId).get(deviceId);
    if (!row) throw new NotFound('device configuration not found');
    return JSON.parse(row.configured_json) as Configuration;
  }

  /** The device reports what it has: replaces `reported`. */
  async report(tenantId: string, deviceId: string, body: unknown): Promise<void> {
    const reported = configurationOf(body);
    await this.deps.store.transaction((trx) =>
      this.store(tenantId, trx).setReported(deviceId, JSON.stringify(reported), now()),
    );
  }

  async get(tenantId: string, deviceId: string): Promise<DeviceConfigurationView> {
    const row = await this.store(tenantId).get(deviceId);
    if (!row) throw new NotFound('device configuration not found');
    return {
      id: row.device_id,
      configured: JSON.parse(row.configured_json),
      reported: JSON.parse(row.reported_json),
      ...(row.deployment_id ? { deployment_id: row.deployment_id } : {}),
      updated_ts: row.updated_ts,
      ...(row.reported_ts ? { reported_ts: row.reported_ts } : {}),
    };
  }

  /** The operator replaces `configured`. Only devices of the tenant take one (Mender would make a record for any id). */
  async set(tenantId: string, deviceId: string, body: unknown, actor: UserPrincipal): Promise<void> {
    const configured = configurationOf(body);
    await this.deps.store.transaction(async (trx) => {
      await requireDevice(trx, tenantId, deviceId);
      await this.store(tenantId, trx).setConfigured(deviceId, JSON.stringify(configured), now());
      const change: ConfigurationChange = {
        tenantId,
        deviceId,
        actor,
        action: 'set_configuration',
        configuration: configured,
      };
      for (const hook of this.changeHooks) await hook(change, trx);
    });
  }

  /** Deploys `configured` to the device; returns the new deployment's id. */
  async deploy(tenantId: string, deviceId: string, body: unknown, actor: UserPrincipal): Promise<string> {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new Invalid('failed to decode request body: expected a JSON object');
    }
    const { retries, update_control_map } = body as ConfigurationDeploymentOptions;
    const deploymentId = await this.deps.store.transaction(async (trx) => {
      const store = this.store(tenantId, trx);
      const row = await store.get(deviceId);
      if (!row) throw new NotFound('device configuration not found');
      const configured = JSON.parse(row.configured_json) as Configuration;
      const id = await this.deployments.insertConfigurationDeployment(
        tenantId,
        deviceId,
        configured,
        { retries, update_control_map },
        trx,
      );
      await store.setDeployment(deviceId, id);
      const change: ConfigurationChange = {
        tenantId,
        deviceId,
        actor,
        action: 'deploy_configuration',
        configuration: configured,
        deploymentId: id,
      };
      for (const hook of this.changeHooks) await hook(change, trx);
      return id;
    });
    this.deployments.attempts.generationChanged(tenantId);
    for (const hook of this.deployedHooks) hook(tenantId, deviceId, deploymentId);
    return deploymentId;
  }
}
