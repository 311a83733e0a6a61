// The hawkBit DDI adapter's rules: which tenant a path names, who a request is (target token, gateway token,
// anonymous), what a poll offers (a device deployment as a numeric action, its cancellation after an abort,
// configData, installedBase), and feedback onto the one deployment state machine (see feedback.ts).
// Routes (ddi.ts, management.ts) only translate wire shapes; everything they decide is here.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { PassThrough, type Readable } from 'node:stream';
import type { Transaction } from 'kysely';
import { isJsonObject } from '../../api/schemas.js';
import type { ArtifactView } from '../../artifacts/service.js';
import type { AttemptRef, AttemptState } from '../../deployments/attempts.js';
import { Conflict, Invalid, NotFound, Unauthorized } from '../../errors.js';
import type { Services } from '../../services.js';
import type { Tables } from '../../store/schema.js';
import type { Tenant } from '../../tenants/service.js';
import { cancellationAcknowledged, deploymentEffect, type Feedback, levelOf, logLine } from './feedback.js';
import { DdiStore } from './store.js';
import type { DdiAction, DdiActionRow, DdiFileTable, DdiSettingsTable, DdiTargetTable } from './tables.js';

/** The face (auth set) name DDI targets carry in the devices domain. */
export const DDI_FACE = 'ddi:target';
/** hawkBit's default polling interval. */
export const DEFAULT_POLLING_SLEEP = 300;
/** Device type of DDI targets that name none (neither per target nor by configData), unless the tenant sets one. */
export const DEFAULT_DEVICE_TYPE = 'ddi';
/** How long a process trusts its cached DDI settings of a tenant (the bound for a change to reach other processes). */
export const SETTINGS_TTL_MS = 1000;
/** How long a process trusts a cached action row (only a cancellation's acknowledgement changes it). */
const ROW_TTL_MS = 1000;
/** Payload files of Mender's single-file update module that describe the install, not the software. */
const SINGLE_FILE_META = new Set(['dest_dir', 'filename', 'permissions']);

export interface Target {
  tenantId: string;
  row: DdiTargetTable;
  /** The device's admission status when the request came (DDI targets are offered work only when accepted). */
  deviceStatus?: string | null;
}

/** What DDI shows of an action, read off the state of the attempt it serves. */
export function actionOf(row: DdiActionRow, state: AttemptState): DdiAction {
  switch (state.kind) {
    case 'live':
      return { ...row, status: 'open', result: null };
    case 'aborted':
    case 'decommissioned':
      // The operator aborted (or decommissioned): the device must confirm the cancellation before the action ends.
      return row.cancel_acknowledged_ts
        ? { ...row, status: 'closed', result: 'canceled' }
        : { ...row, status: 'canceling', result: null };
    case 'ended':
      return { ...row, status: 'closed', result: state.status };
    case 'gone':
      return { ...row, status: 'closed', result: 'gone' };
  }
}

export interface Chunk {
  part: string;
  version: string;
  name: string;
  moduleId: number;
  artifacts: DdiFileTable[];
}

const now = () => new Date().toISOString();
export const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');

function sameHash(a: string | null | undefined, b: string): boolean {
  if (!a) return false;
  return timingSafeEqual(Buffer.from(a, 'hex'), Buffer.from(b, 'hex'));
}

/** `HH:MM:SS` as hawkBit writes config.polling.sleep. */
export function sleepText(seconds: number): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${pad(Math.floor(seconds / 3600))}:${pad(Math.floor((seconds % 3600) / 60))}:${pad(seconds % 60)}`;
}

export class DdiService {
  /** Actions whose state can never change again (closed), so polls need not ask the domain about them. */
  private readonly closed = new Map<string, string | null>();
  private readonly settingsCache = new Map<string, { value: DdiSettingsTable; at: number }>();
  private readonly rows = new Map<string, { row: DdiActionRow; at: number }>();

  constructor(private readonly services: Services) {
    // A decommissioned device's DDI target (and its token) goes with it, in the same transaction.
    services.devices.onDecommission((tenantId, deviceId, trx) => new DdiStore(trx, tenantId).deleteTargetsOf(deviceId));
  }

  private store(tenantId: string, trx?: Transaction<Tables>): DdiStore {
    return new DdiStore(trx ?? this.services.store.db, tenantId);
  }

  private refOf(target: Target, row: DdiActionRow): AttemptRef {
    return {
      tenantId: target.tenantId,
      deviceId: target.row.device_id,
      deploymentId: row.deployment_id,
      attempt: row.attempt,
    };
  }

  /** The action with its lifecycle, as the deployments domain sees its attempt. */
  private async view(target: Target, row: DdiActionRow): Promise<DdiAction> {
    const key = `${target.tenantId}|${row.id}`;
    const result = this.closed.get(key);
    if (result !== undefined) return { ...row, status: 'closed', result };
    const action = actionOf(row, await this.services.deployments.attempts.state(this.refOf(target, row)));
    if (action.status === 'closed' && action.result !== 'success') {
      if (this.closed.size > 100_000) this.closed.clear();
      this.closed.set(key, action.result);
    }
    return action;
  }

  /** The path's tenant: the hawkBit tenant name (the default tenant answers to `DEFAULT`) or the tenant id. */
  async tenant(name: string): Promise<Tenant> {
    const tenant =
      (await this.services.tenants.byHawkbitName(name)) ??
      (await this.services.tenants.byHawkbitName(name.toUpperCase())) ??
      (await this.services.tenants.byId(name));
    if (!tenant) throw new Unauthorized('unknown tenant');
    return tenant;
  }

  /**
   * The tenant's DDI settings, cached for SETTINGS_TTL_MS (every poll needs them; they change when an operator says
   * so: at once on this process, within the TTL on the others).
   */
  async settings(tenantId: string): Promise<DdiSettingsTable> {
    const cached = this.settingsCache.get(tenantId);
    if (cached && Date.now() - cached.at < SETTINGS_TTL_MS) return cached.value;
    const value = (await this.store(tenantId).settings()) ?? {
      tenant_id: tenantId,
      gateway_token_hash: null,
      anonymous: 0,
      auto_accept: 0,
      default_device_type: DEFAULT_DEVICE_TYPE,
      polling_sleep: DEFAULT_POLLING_SLEEP,
    };
    this.settingsCache.set(tenantId, { value, at: Date.now() });
    return value;
  }

  /**
   * Operator settings. `gateway_token`: a string sets it, null turns gateway tokens off, absent keeps it.
   */
  async updateSettings(tenantId: string, body: unknown): Promise<DdiSettingsTable> {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new Invalid('body: must be an object');
    const input = body as Record<string, unknown>;
    const current = await this.settings(tenantId);
    const next = { ...current };
    if (input.gateway_token !== undefined) {
      if (input.gateway_token !== null && (typeof input.gateway_token !== 'string' || input.gateway_token.length < 8))
        throw new Invalid('gateway_token: must be a string of at least 8 characters, or null');
      next.gateway_token_hash = input.gateway_token === null ? null : hashToken(input.gateway_token as string);
    }
    for (const key of ['anonymous', 'auto_accept'] as const) {
      if (input[key] === undefined) continue;
      if (typeof input[key] !== 'boolean') throw new Invalid(`${key}: must be a boolean`);
      next[key] = input[key] ? 1 : 0;
    }
    if (input.default_device_type !== undefined) {
      if (typeof input.default_device_type !== 'string' || !input.default_device_type)
        throw new Invalid('default_device_type: must be a non-empty string');
      next.default_device_type = input.default_device_type;
    }
    if (input.polling_sleep !== undefined) {
      const s = input.polling_sleep;
      if (typeof s !== 'number' || !Number.isInteger(s) || s < 1 || s > 86400)
        throw new Invalid('polling_sleep: must be an integer number of seconds from 1 to 86400');
      next.polling_sleep = s;
    }
    await this.store(tenantId).saveSettings(next);
    this.settingsCache.delete(tenantId);
    return next;
  }

  /** Pre-creates a DDI target with its target token (generated when not given); the device is accepted. */
  async createTarget(
    tenantId: string,
    body: unknown,
  ): Promise<{ controller_id: string; device_id: string; token: string; device_type: string | null }> {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new Invalid('body: must be an object');
    const input = body as Record<string, unknown>;
    const controllerId = input.controller_id;
    if (typeof controllerId !== 'string' || !/^[A-Za-z0-9._:-]{1,128}$/.test(controllerId))
      throw new Invalid('controller_id: 1 to 128 characters of letters, digits, . _ : -');
    const token = input.token ?? randomBytes(16).toString('hex');
    if (typeof token !== 'string' || token.length < 8) throw new Invalid('token: must be at least 8 characters');
    const deviceType = input.device_type ?? null;
    if (deviceType !== null && (typeof deviceType !== 'string' || !deviceType))
      throw new Invalid('device_type: must be a non-empty string');
    const store = this.store(tenantId);
    if (await store.target(controllerId)) throw new Conflict('a DDI target with this controller_id exists');
    const admitted = await this.services.devices.admitFace(tenantId, { controllerId }, DDI_FACE, 'accepted');
    const ts = now();
    const inserted = await store.insertTarget({
      tenant_id: tenantId,
      controller_id: controllerId,
      device_id: admitted.deviceId,
      token_hash: hashToken(token),
      device_type: deviceType as string | null,
      artifact_name: null,
      config_sent: 0,
      installed_action_id: null,
      created_ts: ts,
      updated_ts: ts,
    });
    if (!inserted) throw new Conflict('a DDI target with this controller_id exists');
    await this.writeInventory(tenantId, admitted.deviceId, (await store.target(controllerId)) as DdiTargetTable);
    return {
      controller_id: controllerId,
      device_id: admitted.deviceId,
      token,
      device_type: deviceType as string | null,
    };
  }

  async getTarget(tenantId: string, controllerId: string) {
    const row = await this.store(tenantId).target(controllerId);
    if (!row) throw new NotFound('DDI target not found');
    return {
      controller_id: row.controller_id,
      device_id: row.device_id,
      device_type: row.device_type,
      artifact_name: row.artifact_name,
      created_ts: row.created_ts,
    };
  }

  /**
   * Who polls: `TargetToken` must match the target's token; `GatewayToken` the tenant's; no header only when the
   * tenant switched anonymous mode on. Gateway and anonymous polls register unknown controller ids.
   */
  async authenticate(tenant: Tenant, controllerId: string, authorization: string | undefined): Promise<Target> {
    const store = this.store(tenant.id);
    const match = /^(TargetToken|GatewayToken)\s+(\S+)\s*$/i.exec(authorization ?? '');
    const settings = await this.settings(tenant.id);
    let row = await store.targetForRequest(controllerId);
    if (match && match[1].toLowerCase() === 'targettoken') {
      if (!row || !sameHash(row.token_hash, hashToken(match[2]))) throw new Unauthorized('bad target token');
      return { tenantId: tenant.id, row, deviceStatus: row.device_status };
    }
    if (match) {
      if (!sameHash(settings.gateway_token_hash, hashToken(match[2]))) throw new Unauthorized('bad gateway token');
    } else if (authorization || !settings.anonymous || row?.token_hash) {
      // Anonymous mode opens targets that have no token of their own; one that has must use it.
      throw new Unauthorized('missing or malformed Authorization header');
    }
    if (!row) {
      if (!/^[A-Za-z0-9._:-]{1,128}$/.test(controllerId)) throw new Unauthorized('bad controller id');
      const admitted = await this.services.devices.admitFace(
        tenant.id,
        { controllerId },
        DDI_FACE,
        settings.auto_accept ? 'accepted' : 'pending',
      );
      const ts = now();
      await store.insertTarget({
        tenant_id: tenant.id,
        controller_id: controllerId,
        device_id: admitted.deviceId,
        token_hash: null,
        device_type: null,
        artifact_name: null,
        config_sent: 0,
        installed_action_id: null,
        created_ts: ts,
        updated_ts: ts,
      });
      const registered = await store.targetForRequest(controllerId);
      if (!registered) throw new Unauthorized('the target could not be registered');
      await this.writeInventory(tenant.id, registered.device_id, registered);
      row = registered;
    }
    return { tenantId: tenant.id, row, deviceStatus: row.device_status };
  }

  private async deviceType(target: Target): Promise<string> {
    return target.row.device_type ?? (await this.settings(target.tenantId)).default_device_type;
  }

  /** device_type and artifact_name in inventory, as Mender devices report them (filters and deployments see them). */
  private async writeInventory(
    tenantId: string,
    deviceId: string,
    row: DdiTargetTable,
    trx?: Transaction<Tables>,
  ): Promise<void> {
    const deviceType = row.device_type ?? (await this.settings(tenantId)).default_device_type;
    await this.services.inventory.setAttributes(
      tenantId,
      deviceId,
      'inventory',
      [
        { name: 'device_type', value: deviceType },
        { name: 'artifact_name', value: row.artifact_name ?? 'none' },
      ],
      'merge',
      trx,
    );
  }

  /**
   * What the base poll offers: the open action's cancellation (its device deployment was aborted) or its
   * deploymentBase; otherwise whatever `deployments.next` hands out becomes a new action. Also configData until
   * the target sent it, and installedBase for the last action that ended in success.
   */
  async poll(target: Target) {
    const settings = await this.settings(target.tenantId);
    const offer: { deploymentBase?: DdiAction; cancelAction?: DdiAction } = {};
    if (target.deviceStatus === 'accepted') {
      const action = await this.currentAction(target);
      if (action?.status === 'canceling') offer.cancelAction = action;
      else if (action) offer.deploymentBase = action;
    }
    const installed = target.row.installed_action_id;
    return {
      sleep: settings.polling_sleep,
      ...offer,
      configData: !target.row.config_sent,
      installed: installed === null ? undefined : { id: installed },
    };
  }

  /**
   * The action of the device's live attempt (or the cancellation the device still has to confirm), else a new one
   * for whatever the deployments domain assigns now. Which attempt is live is the domain's answer, not DDI's.
   */
  private async currentAction(target: Target): Promise<DdiAction | undefined> {
    const store = this.store(target.tenantId);
    const deviceId = target.row.device_id;
    const latest = await store.latestAction(deviceId);
    if (latest) {
      this.rows.set(`${target.tenantId}|${latest.id}`, { row: latest, at: Date.now() });
      const action = await this.view(target, latest);
      if (action.status !== 'closed') return action;
    }
    const assignment = await this.services.deployments.attempts.assign(target.tenantId, deviceId, {
      provides: { device_type: await this.deviceType(target), artifact_name: target.row.artifact_name ?? 'none' },
      checkDepends: true,
      controlMap: false,
    });
    if (assignment.kind !== 'install') return undefined;
    const ts = now();
    const row = await store.actionFor({
      tenant_id: target.tenantId,
      device_id: deviceId,
      deployment_id: assignment.deploymentId,
      attempt: assignment.attempt,
      artifact_id: assignment.artifact.id,
      artifact_name: assignment.artifact.name,
      cancel_acknowledged_ts: null,
      created_ts: ts,
      updated_ts: ts,
    });
    return { ...row, status: 'open', result: null };
  }

  /** The target's own action; another target's (or another tenant's) is not found. */
  async action(target: Target, actionId: string): Promise<DdiAction> {
    return this.view(target, await this.actionRow(target, actionId));
  }

  /**
   * The action's row alone (its lifecycle not looked up), cached for ROW_TTL_MS: only the cancellation's
   * acknowledgement ever changes in it, and this process forgets the row when it writes one.
   */
  async actionRow(target: Target, actionId: string): Promise<DdiActionRow> {
    if (!/^\d{1,15}$/.test(actionId)) throw new NotFound('action not found');
    const key = `${target.tenantId}|${actionId}`;
    const cached = this.rows.get(key);
    let row = cached && Date.now() - cached.at < ROW_TTL_MS ? cached.row : undefined;
    if (!row) {
      row = await this.store(target.tenantId).action(Number(actionId));
      if (row) {
        if (this.rows.size > 100_000) this.rows.clear();
        this.rows.set(key, { row, at: Date.now() });
      }
    }
    if (!row || row.device_id !== target.row.device_id) throw new NotFound('action not found');
    return row;
  }

  /** The chunks of an action's artifact: one per update, its payload files with size and hashes. */
  async chunks(target: Target, action: DdiAction): Promise<Chunk[]> {
    const artifact = await this.services.artifacts.get(target.tenantId, action.artifact_id);
    const store = this.store(target.tenantId);
    const chunks: Chunk[] = [];
    for (const [index, update] of artifact.updates.entries()) {
      chunks.push({
        part: 'os',
        version: artifact.name,
        name: update.type_info.type ?? 'rootfs-image',
        moduleId: await store.moduleId(artifact.id, index),
        artifacts: await this.files(target.tenantId, artifact, index),
      });
    }
    return chunks;
  }

  /** Payload files DDI devices see, with md5/sha1/sha256 (computed once by streaming the file, then stored). */
  private async files(tenantId: string, artifact: ArtifactView, index: number): Promise<DdiFileTable[]> {
    const store = this.store(tenantId);
    const update = artifact.updates[index];
    const wanted = update.files.filter(
      (f) => !(update.type_info.type === 'single-file' && SINGLE_FILE_META.has(f.name) && update.files.length > 1),
    );
    const known = new Map((await store.files(artifact.id, index)).map((f) => [f.file_name, f]));
    const out: DdiFileTable[] = [];
    for (const file of wanted) {
      let row = known.get(file.name);
      if (!row) {
        const stream = await this.services.artifacts.openPayloadFile(tenantId, artifact.id, index, file.name);
        const md5 = createHash('md5');
        const sha1 = createHash('sha1');
        const sha256 = createHash('sha256');
        let size = 0;
        for await (const chunk of stream) {
          const buffer = chunk as Buffer;
          size += buffer.length;
          md5.update(buffer);
          sha1.update(buffer);
          sha256.update(buffer);
        }
        row = {
          tenant_id: tenantId,
          artifact_id: artifact.id,
          update_index: index,
          file_name: file.name,
          size,
          md5: md5.digest('hex'),
          sha1: sha1.digest('hex'),
          sha256: sha256.digest('hex'),
        };
        await store.saveFile(row);
      }
      out.push({ ...row, size: Number(row.size) });
    }
    return out;
  }

  /** A software module's files, when the target was ever assigned its artifact. */
  async module(
    target: Target,
    moduleId: string,
  ): Promise<{ artifact: ArtifactView; index: number; files: DdiFileTable[] }> {
    if (!/^\d{1,15}$/.test(moduleId)) throw new NotFound('software module not found');
    const store = this.store(target.tenantId);
    const module = await store.module(Number(moduleId));
    if (!module || !(await store.assigned(target.row.device_id, module.artifact_id)))
      throw new NotFound('software module not found');
    const artifact = await this.services.artifacts.get(target.tenantId, module.artifact_id);
    return {
      artifact,
      index: module.update_index,
      files: await this.files(target.tenantId, artifact, module.update_index),
    };
  }

  /** One payload file's bytes from `start` to `end` (inclusive), streamed out of the stored artifact. */
  async openFile(target: Target, artifactId: string, index: number, fileName: string, start: number, end: number) {
    const source = await this.services.artifacts.openPayloadFile(target.tenantId, artifactId, index, fileName);
    return slice(source, start, end);
  }

  /**
   * hawkBit's actionHistory: the action's status in hawkBit's words and up to `count` lines of its deployment log,
   * newest first (`count` < 0: all).
   */
  async actionHistory(target: Target, action: DdiAction, count: number) {
    const status =
      action.status === 'canceling'
        ? 'CANCELING'
        : action.status === 'open'
          ? 'RUNNING'
          : (({ success: 'FINISHED', canceled: 'CANCELED' } as Record<string, string>)[action.result ?? ''] ?? 'ERROR');
    const text = await this.services.deployments
      .logText(target.tenantId, action.deployment_id, target.row.device_id)
      .catch(() => '');
    const lines = text.split('\n').filter(Boolean).reverse();
    return { status, messages: count < 0 ? lines : lines.slice(0, count) };
  }

  /** PUT installedBase (experimental in hawkBit): the device says what it runs; that becomes its artifact_name. */
  async installedVersion(target: Target, body: unknown): Promise<void> {
    const input = (typeof body === 'object' && body !== null && !Array.isArray(body) ? body : {}) as Record<
      string,
      unknown
    >;
    for (const key of ['name', 'version'] as const) {
      const value = input[key];
      if (typeof value !== 'string' || !value || value.length > 256)
        throw new Invalid(`${key}: must be a non-empty string`);
    }
    const row = { ...target.row, artifact_name: input.version as string, updated_ts: now() };
    await this.store(target.tenantId).updateTarget(row.controller_id, {
      artifact_name: row.artifact_name,
      updated_ts: row.updated_ts,
    });
    await this.writeInventory(target.tenantId, row.device_id, row);
  }

  /** deploymentBase feedback: the status onto the attempt, details into its log, one transaction. */
  async deploymentFeedback(target: Target, action: DdiActionRow, feedback: Feedback): Promise<'ok' | 'gone'> {
    // Whether the attempt is still live is the domain's answer to the report (a refused one is gone).
    const { tenantId } = target;
    const ref = this.refOf(target, action);
    const line = { timestamp: now(), level: levelOf(feedback), message: logLine('deployment', feedback) };
    const effect = deploymentEffect(feedback);
    if (!effect.status)
      return (await this.services.deployments.attempts.appendLog(ref, [line])) === 'ok' ? 'ok' : 'gone';
    const installed = effect.status === 'success';
    const result = await this.services.deployments.attempts.report(ref, effect.status, {
      log: [line],
      // What the target runs now, in the same transaction as the attempt's success.
      alongside: installed
        ? async (trx) => {
            const row = {
              ...target.row,
              artifact_name: action.artifact_name,
              installed_action_id: action.id,
              updated_ts: now(),
            };
            await this.store(tenantId, trx).updateTarget(row.controller_id, {
              artifact_name: row.artifact_name,
              installed_action_id: row.installed_action_id,
              updated_ts: row.updated_ts,
            });
            await this.writeInventory(tenantId, row.device_id, row, trx);
          }
        : undefined,
    });
    return result === 'applied' || result === 'retrying' || result === 'unchanged' ? 'ok' : 'gone';
  }

  /** cancelAction feedback: logged; an acknowledgement closes the action (in the same transaction). */
  async cancelFeedback(target: Target, action: DdiAction, feedback: Feedback): Promise<'ok' | 'gone'> {
    if (action.status === 'closed') return 'gone';
    if (action.status !== 'canceling') throw new NotFound('no cancellation for this action');
    const line = { timestamp: now(), level: levelOf(feedback), message: logLine('cancel', feedback) };
    const acknowledged = cancellationAcknowledged(feedback);
    const written = await this.services.deployments.attempts.appendLog(this.refOf(target, action), [line], {
      alongside: acknowledged
        ? (trx) => this.store(target.tenantId, trx).acknowledgeCancel(action.id, now())
        : undefined,
    });
    this.rows.delete(`${target.tenantId}|${action.id}`);
    return written === 'ok' ? 'ok' : 'gone';
  }

  /**
   * configData: the attributes land in inventory (merge, replace or remove as hawkBit's `mode` says); a
   * `device_type` among them becomes the target's device type for deployments.
   */
  async configData(target: Target, body: unknown): Promise<void> {
    if (!isJsonObject(body)) throw new Invalid('body: must be an object');
    const { data, mode = 'merge' } = body;
    if (!isJsonObject(data)) throw new Invalid('data: must be an object');
    if (mode !== 'merge' && mode !== 'replace' && mode !== 'remove')
      throw new Invalid('mode: merge, replace or remove');
    const entries = Object.entries(data);
    if (entries.length > 200) throw new Invalid('data: at most 200 attributes');
    for (const [name, value] of entries) {
      if (!name || name.length > 128 || typeof value !== 'string' || value.length > 512)
        throw new Invalid('data: keys up to 128 and string values up to 512 characters');
    }
    const { tenantId } = target;
    const deviceId = target.row.device_id;
    const deviceType = (data as Record<string, string>).device_type;
    const changes: Partial<DdiTargetTable> = { config_sent: 1, updated_ts: now() };
    if (mode !== 'remove' && deviceType) changes.device_type = deviceType;
    await this.store(tenantId).updateTarget(target.row.controller_id, changes);
    const row = { ...target.row, ...changes };
    if (mode === 'remove') {
      const current = (await this.services.inventory.device(tenantId, deviceId)).device.attributes ?? [];
      const keep = current
        .filter((a: { scope?: string; name: string }) => a.scope === 'inventory' && !(a.name in (data as object)))
        .map((a: { name: string; value: unknown }) => ({ name: a.name, value: a.value }));
      await this.services.inventory.setAttributes(tenantId, deviceId, 'inventory', keep as never, 'replace');
    } else {
      const attributes = entries.map(([name, value]) => ({ name, value: value as string }));
      await this.services.inventory.setAttributes(tenantId, deviceId, 'inventory', attributes, mode);
    }
    await this.writeInventory(tenantId, deviceId, row);
  }
}

/** Bytes start..end (inclusive) of a stream, reading no further than needed. */
function slice(source: Readable, start: number, end: number): Readable {
  const out = new PassThrough();
  let offset = 0;
  (async () => {
    for await (const chunk of source) {
      const buffer = chunk as Buffer;
      const from = Math.max(start - offset, 0);
      const to = Math.min(end + 1 - offset, buffer.length);
      if (from < to && !out.write(buffer.subarray(from, to))) await new Promise((r) => out.once('drain', r));
      offset += buffer.length;
      if (offset > end) break;
    }
    source.destroy();
    out.end();
  })().catch((error) => out.destroy(error as Error));
  return out;
}
