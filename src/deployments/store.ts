// SQL for deployments, device deployments and their logs, bound to one tenant at construction. Every statement
// filters on the tenant; the device poll uses the (tenant, device, active) index, statistics (tenant, deployment,
// status).
import { type CompiledQuery, type Kysely, sql, type Transaction } from 'kysely';
import { inBatches } from '../store/batches.js';
import { now } from '../store/db.js';
import { dialectOf } from '../store/migration.js';
import { runPrepared } from '../store/prepared.js';
import type { Tables } from '../store/schema.js';
import { activeStatuses, type DeviceDeploymentStatus, finishedStatuses, pauseStatuses } from './rules/status.js';
import type { DeploymentTable, DeploymentType, DeviceDeploymentTable, StoredDeploymentStatus } from './tables.js';

/** One line of a deployment log. */
export interface LogLine {
  timestamp: string;
  level: string;
  message: string;
}

/** A device deployment read together with its deployment. */
export interface AttemptRow {
  dd: DeviceDeploymentTable;
  deployment: DeploymentTable;
}

const DEPLOYMENT_COLUMNS = [
  'tenant_id',
  'id',
  'name',
  'artifact_name',
  'type',
  'configuration',
  'target',
  'target_group',
  'filter_id',
  'filter_json',
  'phases_json',
  'first_phase_ts',
  'retries',
  'max_devices',
  'control_map_json',
  'force_installation',
  'handling_json',
  'status',
  'created_ts',
  'finished_ts',
  'device_count',
  'initial_device_count',
  'admitted',
  'paused',
  'resumed_through',
  'aborted',
] as const satisfies readonly (keyof DeploymentTable)[];

const DEVICE_DEPLOYMENT_COLUMNS = [
  'tenant_id',
  'id',
  'deployment_id',
  'device_id',
  'status',
  'active',
  'substate',
  'attempts',
  'artifact_id',
  'device_type',
  'position',
  'request_json',
  'has_log',
  'deployment_created_ts',
  'created_ts',
  'started_ts',
  'finished_ts',
  'updated_ts',
  'deleted_ts',
] as const satisfies readonly (keyof DeviceDeploymentTable)[];

// Both lists name every column of their table: a column added to a table and not here fails to compile.
type Unlisted = [
  Exclude<keyof DeploymentTable, (typeof DEPLOYMENT_COLUMNS)[number]>,
  Exclude<keyof DeviceDeploymentTable, (typeof DEVICE_DEPLOYMENT_COLUMNS)[number]>,
];
export const attemptColumnsComplete: Unlisted extends [never, never] ? true : never = true;

/** The joined row's names of the deployment's columns (`d.x as d_x`). */
const DEPLOYMENT_ALIASES = DEPLOYMENT_COLUMNS.map((c) => `d_${c}` as const);

/** Takes a joined row apart by the column lists it was selected with (no per-key string work). */
function splitAttemptRow(row: Record<string, unknown>): AttemptRow {
  const dd: Record<string, unknown> = {};
  const deployment: Record<string, unknown> = {};
  for (const column of DEVICE_DEPLOYMENT_COLUMNS) dd[column] = row[column];
  for (let i = 0; i < DEPLOYMENT_COLUMNS.length; i++) deployment[DEPLOYMENT_COLUMNS[i]] = row[DEPLOYMENT_ALIASES[i]];
  return { dd: dd as unknown as DeviceDeploymentTable, deployment: deployment as unknown as DeploymentTable };
}

type Db = Kysely<Tables> | Transaction<Tables>;

export interface Page {
  page: number;
  perPage: number;
}

export interface DeploymentFilter {
  status?: StoredDeploymentStatus;
  /** The derived "scheduled" status: pending, first phase after `now`. */
  scheduled?: boolean;
  /** Current time, for telling pending from scheduled. */
  now?: string;
  type?: DeploymentType;
  /** Case-insensitive substring of the name (v1 `search`). */
  search?: string;
  ids?: string[];
  names?: string[];
  createdBefore?: string;
  createdAfter?: string;
}

/** A device-deployment status filter as the lists take it: one status, or the pause / active / finished groups. */
export type DeviceStatusFilter = DeviceDeploymentStatus | 'pause' | 'active' | 'finished';

function statusesOf(filter: DeviceStatusFilter): readonly string[] {
  if (filter === 'pause') return pauseStatuses;
  if (filter === 'active') return activeStatuses;
  if (filter === 'finished') return finishedStatuses;
  return [filter];
}

function escapeLike(value: string): string {
  return value.replace(/[\\%_]/g, (c) => `\\${c}`);
}

export class DeploymentStore {
  constructor(
    private readonly db: Db,
    private readonly tenantId: string,
  ) {}

  async insertDeployment(row: Omit<DeploymentTable, 'tenant_id'>): Promise<void> {
    await this.db
      .insertInto('deployments')
      .values({ ...row, tenant_id: this.tenantId })
      .execute();
  }

  async insertDeviceDeployments(rows: Omit<DeviceDeploymentTable, 'tenant_id'>[]): Promise<void> {
    // Chunks keep each statement under SQLite's bound-variable limit.
    for (let i = 0; i < rows.length; i += 500) {
      await this.db
        .insertInto('device_deployments')
        .values(rows.slice(i, i + 500).map((r) => ({ ...r, tenant_id: this.tenantId })))
        .execute();
    }
  }

  async deployment(id: string): Promise<DeploymentTable | undefined> {
    return this.db
      .selectFrom('deployments')
      .selectAll()
      .where('tenant_id', '=', this.tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
  }

  async deploymentsByIds(ids: string[]): Promise<DeploymentTable[]> {
    return inBatches([...new Set(ids)], (batch) =>
      this.db
        .selectFrom('deployments')
        .selectAll()
        .where('tenant_id', '=', this.tenantId)
        .where('id', 'in', batch)
        .execute(),
    );
  }

  async updateDeployment(id: string, changes: Partial<Omit<DeploymentTable, 'tenant_id' | 'id'>>): Promise<void> {
    await this.db
      .updateTable('deployments')
      .set(changes)
      .where('tenant_id', '=', this.tenantId)
      .where('id', '=', id)
      .execute();
  }

  /** One more device in a dynamic deployment; counted in SQL so that devices joining at once are all counted. */
  async incrementDeviceCount(id: string): Promise<void> {
    await this.db
      .updateTable('deployments')
      .set((eb) => ({ device_count: eb('device_count', '+', 1) }))
      .where('tenant_id', '=', this.tenantId)
      .where('id', '=', id)
      .execute();
  }

  private filtered(filter: DeploymentFilter) {
    let query = this.db.selectFrom('deployments').where('deployments.tenant_id', '=', this.tenantId);
    if (filter.status) query = query.where('status', '=', filter.status);
    if (filter.status === 'pending' && filter.now) {
      const at = filter.now;
      query = query.where((eb) => eb.or([eb('first_phase_ts', 'is', null), eb('first_phase_ts', '<=', at)]));
    }
    if (filter.scheduled && filter.now) {
      query = query.where('status', '=', 'pending').where('first_phase_ts', '>', filter.now);
    }
    if (filter.type) query = query.where('type', '=', filter.type);
    if (filter.search) {
      query = query.where(sql<boolean>`lower(name) like ${`%${escapeLike(filter.search.toLowerCase())}%`} escape '\\'`);
    }
    if (filter.ids?.length) query = query.where('id', 'in', filter.ids);
    if (filter.names?.length) query = query.where('name', 'in', filter.names);
    if (filter.createdBefore) query = query.where('created_ts', '<=', filter.createdBefore);
    if (filter.createdAfter) query = query.where('created_ts', '>=', filter.createdAfter);
    return query;
  }

  async listDeployments(
    filter: DeploymentFilter,
    ascending: boolean,
    page: Page,
  ): Promise<{ rows: DeploymentTable[]; total: number }> {
    const direction = ascending ? 'asc' : 'desc';
    const rows = await this.filtered(filter)
      .selectAll()
      .orderBy('created_ts', direction)
      .orderBy('id', direction)
      .limit(page.perPage)
      .offset((page.page - 1) * page.perPage)
      .execute();
    const count = await this.filtered(filter)
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    return { rows, total: Number(count.n) };
  }

  /** Device counts per status for each deployment. */
  async statusCounts(deploymentIds: string[]): Promise<Map<string, { status: string; count: number }[]>> {
    const out = new Map<string, { status: string; count: number }[]>(deploymentIds.map((id) => [id, []]));
    if (deploymentIds.length === 0) return out;
    const rows = await inBatches([...out.keys()], (batch) =>
      this.db
        .selectFrom('device_deployments')
        .select(['deployment_id', 'status', (eb) => eb.fn.countAll<number>().as('n')])
        .where('tenant_id', '=', this.tenantId)
        .where('deployment_id', 'in', batch)
        .groupBy(['deployment_id', 'status'])
        .execute(),
    );
    for (const row of rows) out.get(row.deployment_id)?.push({ status: row.status, count: Number(row.n) });
    return out;
  }

  /** Sum of the sizes of the artifacts assigned to the deployment's devices. */
  async totalSize(deploymentId: string): Promise<number> {
    const row = await this.db
      .selectFrom('device_deployments as dd')
      .innerJoin('artifacts as a', (join) =>
        join.onRef('a.id', '=', 'dd.artifact_id').onRef('a.tenant_id', '=', 'dd.tenant_id'),
      )
      .select((eb) => eb.fn.coalesce(eb.fn.sum<number>('a.size'), eb.lit(0)).as('total'))
      .where('dd.tenant_id', '=', this.tenantId)
      .where('dd.deployment_id', '=', deploymentId)
      .executeTakeFirstOrThrow();
    return Number(row.total);
  }

  /** Unfinished dynamic deployments the device has no device deployment in yet, oldest first. */
  async openDynamicDeployments(deviceId: string): Promise<DeploymentTable[]> {
    // Asked on every device's first poll to a process: compiled once (runPrepared).
    const rows = await this.prepared(
      'openDynamicDeployments',
      (tenant, device) =>
        this.db
          .selectFrom('deployments as d')
          .selectAll('d')
          .where('d.tenant_id', '=', tenant)
          .where('d.target', '=', 'filter')
          .where('d.finished_ts', 'is', null)
          .where(({ not, exists, selectFrom }) =>
            not(
              exists(
                selectFrom('device_deployments as dd')
                  .select('dd.id')
                  .whereRef('dd.deployment_id', '=', 'd.id')
                  .where('dd.tenant_id', '=', tenant)
                  .where('dd.device_id', '=', device),
              ),
            ),
          )
          .orderBy('d.created_ts'),
      [this.tenantId, deviceId],
    );
    return rows as unknown as DeploymentTable[];
  }

  /**
   * Takes the next admission position if it is below `limit` (null: no limit); one statement, so two devices
   * polling at once never get the same position. Returns the position, or undefined when there is no room now.
   */
  async admit(deploymentId: string, limit: number | null): Promise<number | undefined> {
    const [row] = await this.prepared(
      `admit|${limit === null ? '' : 'limit'}`,
      (tenant, deployment, max) =>
        this.db
          .updateTable('deployments')
          .set((eb) => ({ admitted: eb('admitted', '+', 1) }))
          .where('tenant_id', '=', tenant)
          .where('id', '=', deployment)
          .$if(limit !== null, (q) => q.where('admitted', '<', max as unknown as number))
          .returning('admitted'),
      [this.tenantId, deploymentId, limit],
    );
    return row ? Number(row.admitted) - 1 : undefined;
  }

  /**
   * PostgreSQL: `admit` and the assignment's update in one statement that commits by itself, so the deployment row's
   * lock (its `admitted` counter, which every admitted device of the deployment moves) is held for that statement
   * only, not across a transaction's round trips while the event loop serves other requests. The device's row is
   * locked first and must still be in `status`; nothing is written otherwise. Undefined when nothing was written
   * (the phase is full, or the row changed first).
   */
  async admitAndAssign(
    dd: Pick<DeviceDeploymentTable, 'id' | 'deployment_id' | 'status'>,
    limit: number | null,
    changes: Partial<Omit<DeviceDeploymentTable, 'tenant_id' | 'id' | 'position'>>,
  ): Promise<number | undefined> {
    const set: Record<string, unknown> = { updated_ts: now(), ...changes };
    // Kysely leaves out a column set to undefined; so does the compiled text.
    const columns = Object.keys(set).filter((c) => set[c] !== undefined);
    const args = [this.tenantId, dd.id, dd.status, dd.deployment_id, limit, ...columns.map((c) => set[c])];
    const [row] = await this.prepared(
      `admitAndAssign|${columns.join(',')}|${limit === null ? '' : 'limit'}`,
      (tenant, id, status, deployment, max, ...markers) =>
        this.db
          .with('mine', (db) =>
            db
              .selectFrom('device_deployments')
              .select('id')
              .where('tenant_id', '=', tenant)
              .where('id', '=', id)
              .where('status', '=', status as DeviceDeploymentStatus)
              .forUpdate(),
          )
          .with('admission', (db) =>
            db
              .updateTable('deployments')
              .set((eb) => ({ admitted: eb('admitted', '+', 1) }))
              .where('tenant_id', '=', tenant)
              .where('id', '=', deployment)
              .where(({ exists, selectFrom }) => exists(selectFrom('mine').select('mine.id')))
              .$if(limit !== null, (q) => q.where('admitted', '<', max as unknown as number))
              .returning('admitted'),
          )
          .updateTable('device_deployments')
          .set({
            ...(Object.fromEntries(columns.map((c, i) => [c, markers[i]])) as Partial<DeviceDeploymentTable>),
            position: sql<number>`(select "admitted" - 1 from "admission")`,
          })
          .where('tenant_id', '=', tenant)
          .where('id', '=', id)
          .where(({ exists, selectFrom }) => exists(selectFrom('admission').select('admission.admitted')))
          .returning('position'),
      args,
    );
    return row ? Number(row.position) : undefined;
  }

  async deviceDeployment(deploymentId: string, deviceId: string): Promise<DeviceDeploymentTable | undefined> {
    return this.db
      .selectFrom('device_deployments')
      .selectAll()
      .where('tenant_id', '=', this.tenantId)
      .where('deployment_id', '=', deploymentId)
      .where('device_id', '=', deviceId)
      .executeTakeFirst();
  }

  /** The device deployment with the number of lines in its log, in one statement (before a log is written). */
  async deviceDeploymentAndLogSize(
    deploymentId: string,
    deviceId: string,
  ): Promise<(DeviceDeploymentTable & { log_lines: number }) | undefined> {
    const row = await this.db
      .selectFrom('device_deployments as dd')
      .selectAll('dd')
      .select((eb) =>
        eb
          .selectFrom('deployment_log_lines as l')
          .select(eb.fn.countAll<number>().as('n'))
          .where('l.tenant_id', '=', this.tenantId)
          .where('l.deployment_id', '=', deploymentId)
          .where('l.device_id', '=', deviceId)
          .as('log_lines'),
      )
      .where('dd.tenant_id', '=', this.tenantId)
      .where('dd.deployment_id', '=', deploymentId)
      .where('dd.device_id', '=', deviceId)
      .executeTakeFirst();
    return row && { ...row, log_lines: Number(row.log_lines ?? 0) };
  }

  /**
   * Changes a device deployment if its status is still `fromStatus` (and, with `readAt`, its `updated_ts` is still
   * the one read: the row is as read); false when someone changed it first. Its SQL text is built once per set of
   * changed columns (`prepared`).
   */
  async updateDeviceDeployment(
    id: string,
    fromStatus: DeviceDeploymentStatus,
    changes: Partial<Omit<DeviceDeploymentTable, 'tenant_id' | 'id'>>,
    lock?: { deploymentId: string },
    readAt?: string,
  ): Promise<boolean> {
    const set: Record<string, unknown> = { updated_ts: now(), ...changes };
    // Kysely leaves out a column set to undefined; so does the compiled text.
    const columns = Object.keys(set).filter((c) => set[c] !== undefined);
    const values = columns.map((c) => set[c]);
    const shape = `${columns.join(',')}|${lock ? 'lock' : ''}|${readAt === undefined ? '' : 'as-read'}`;
    const args = [this.tenantId, id, fromStatus, lock?.deploymentId, readAt, ...values];
    const result = await runPrepared(
      this.db,
      `updateDeviceDeployment|${shape}`,
      (tenant, row, status, deployment, updated, ...markers) => {
        const query = this.db
          .updateTable('device_deployments')
          .set(Object.fromEntries(columns.map((c, i) => [c, markers[i]])) as Partial<DeviceDeploymentTable>)
          .where('tenant_id', '=', tenant)
          .where('id', '=', row)
          .where('status', '=', status as DeviceDeploymentStatus)
          .$if(readAt !== undefined, (q) => q.where('updated_ts', '=', updated));
        if (!lock) return query;
        // PostgreSQL: the deployment row's lock is taken by the same statement (a CTE that the update refers to),
        // so devices finishing at once queue up and the last one's next statement sees the others (see settle.ts).
        return this.db
          .with('locked', (db) =>
            db
              .selectFrom('deployments')
              .select('id')
              .where('tenant_id', '=', tenant)
              .where('id', '=', deployment)
              // NO KEY UPDATE: it queues finishing devices and admissions (updates of the row), but not the foreign
              // key checks (KEY SHARE) of log lines written by reports that hold their device's row.
              .forNoKeyUpdate(),
          )
          .updateTable('device_deployments')
          .set(Object.fromEntries(columns.map((c, i) => [c, markers[i]])) as Partial<DeviceDeploymentTable>)
          .where('tenant_id', '=', tenant)
          .where('id', '=', row)
          .where('status', '=', status as DeviceDeploymentStatus)
          .$if(readAt !== undefined, (q) => q.where('updated_ts', '=', updated))
          .where(({ exists, selectFrom }) => exists(selectFrom('locked').select('locked.id')));
      },
      args,
    );
    return Number(result.numAffectedRows ?? 0) === 1;
  }

  /** Ends every active device deployment of a deployment (abort); returns how many. */
  async finishActive(
    where: { deploymentId?: string; deviceId?: string },
    status: DeviceDeploymentStatus,
    ts: string,
  ): Promise<string[]> {
    let select = this.db
      .selectFrom('device_deployments')
      .select('deployment_id')
      .where('tenant_id', '=', this.tenantId)
      .where('active', '=', 1);
    if (where.deploymentId) select = select.where('deployment_id', '=', where.deploymentId);
    if (where.deviceId) select = select.where('device_id', '=', where.deviceId);
    const touched = [...new Set((await select.execute()).map((r) => r.deployment_id))];
    let update = this.db
      .updateTable('device_deployments')
      .set({ status, active: 0, finished_ts: ts, updated_ts: ts })
      .where('tenant_id', '=', this.tenantId)
      .where('active', '=', 1);
    if (where.deploymentId) update = update.where('deployment_id', '=', where.deploymentId);
    if (where.deviceId) update = update.where('device_id', '=', where.deviceId);
    await update.execute();
    return touched;
  }

  async devicesOf(
    deploymentId: string,
    status?: DeviceStatusFilter,
    page?: Page,
  ): Promise<{ rows: DeviceDeploymentTable[]; total: number }> {
    const base = () => {
      let q = this.db
        .selectFrom('device_deployments')
        .where('tenant_id', '=', this.tenantId)
        .where('deployment_id', '=', deploymentId);
      if (status) q = q.where('status', 'in', statusesOf(status) as DeviceDeploymentStatus[]);
      return q;
    };
    let query = base().selectAll().orderBy('created_ts').orderBy('device_id');
    if (page) query = query.limit(page.perPage).offset((page.page - 1) * page.perPage);
    const rows = await query.execute();
    const total = page
      ? Number(
          (
            await base()
              .select((eb) => eb.fn.countAll<number>().as('n'))
              .executeTakeFirstOrThrow()
          ).n,
        )
      : rows.length;
    return { rows, total };
  }

  /** A device's device deployments, newest deployment first, and how many there are in all (the pager's total). */
  async history(
    deviceId: string,
    status: DeviceStatusFilter | readonly DeviceStatusFilter[] | undefined,
    page: Page,
  ): Promise<{ rows: DeviceDeploymentTable[]; total: number }> {
    const base = () => {
      let q = this.db
        .selectFrom('device_deployments')
        .where('tenant_id', '=', this.tenantId)
        .where('device_id', '=', deviceId)
        .where('deleted_ts', 'is', null);
      const statuses = (typeof status === 'string' ? [status] : (status ?? [])).flatMap(statusesOf);
      if (statuses.length > 0) q = q.where('status', 'in', statuses as DeviceDeploymentStatus[]);
      return q;
    };
    const rows = await base()
      .selectAll()
      .orderBy('deployment_created_ts', 'desc')
      .orderBy('id')
      .limit(page.perPage)
      .offset((page.page - 1) * page.perPage)
      .execute();
    const { n } = await base()
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    return { rows, total: Number(n) };
  }

  /** A device's finished device deployments still in its history. */
  async finishedOfDevice(deviceId: string): Promise<DeviceDeploymentTable[]> {
    return this.db
      .selectFrom('device_deployments')
      .selectAll()
      .where('tenant_id', '=', this.tenantId)
      .where('device_id', '=', deviceId)
      .where('active', '=', 0)
      .where('deleted_ts', 'is', null)
      .execute();
  }

  /** Positions of the deployment's devices that finished in failure (failures only: a short list). */
  async failedPositions(deploymentId: string): Promise<number[]> {
    const rows = await this.db
      .selectFrom('device_deployments')
      .select('position')
      .where('tenant_id', '=', this.tenantId)
      .where('deployment_id', '=', deploymentId)
      .where('status', '=', 'failure')
      .execute();
    return rows.map((r) => r.position).filter((p): p is number => p !== null);
  }

  /** Appends lines to a device's log in a deployment, and marks the device deployment as having one. */
  async appendLog(deploymentId: string, deviceId: string, lines: readonly LogLine[]): Promise<void> {
    if (lines.length === 0) return;
    for (let i = 0; i < lines.length; i += 200) {
      await this.db
        .insertInto('deployment_log_lines')
        .values(
          lines.slice(i, i + 200).map((line) => ({
            tenant_id: this.tenantId,
            deployment_id: deploymentId,
            device_id: deviceId,
            timestamp: line.timestamp,
            level: line.level,
            message: line.message,
          })),
        )
        .execute();
    }
  }

  /** Drops a device's log in a deployment (a Mender device sends its whole log at once, replacing the last). */
  async clearLog(deploymentId: string, deviceId: string): Promise<void> {
    await this.db
      .deleteFrom('deployment_log_lines')
      .where('tenant_id', '=', this.tenantId)
      .where('deployment_id', '=', deploymentId)
      .where('device_id', '=', deviceId)
      .execute();
  }

  async logLines(deploymentId: string, deviceId: string): Promise<LogLine[]> {
    return this.db
      .selectFrom('deployment_log_lines')
      .select(['timestamp', 'level', 'message'])
      .where('tenant_id', '=', this.tenantId)
      .where('deployment_id', '=', deploymentId)
      .where('device_id', '=', deviceId)
      .orderBy('id')
      .execute();
  }

  /** The device deployment and its deployment in one statement (the device side's read before every change). */
  async attemptOf(deploymentId: string, deviceId: string): Promise<AttemptRow | undefined> {
    const [row] = await this.prepared(
      'attemptOf',
      (tenant, deployment, device) =>
        this.withDeployment()
          .where('dd.tenant_id', '=', tenant)
          .where('dd.deployment_id', '=', deployment)
          .where('dd.device_id', '=', device),
      [this.tenantId, deploymentId, deviceId],
    );
    return row && splitAttemptRow(row);
  }

  /**
   * Locks the device's row of a deployment until the transaction ends (PostgreSQL; SQLite runs one write
   * transaction at a time): reports of one device that raced each other apply one after the other. The deployment's
   * row is locked first, as every transaction that locks both does (admission, a finishing device's update): a
   * report under this lock may finish the device and take the deployment's lock after its own, and two processes
   * handling one device's reports at once then deadlocked.
   */
  async lockAttempt(deploymentId: string, deviceId: string): Promise<void> {
    if (dialectOf(this.db as unknown as Kysely<unknown>) !== 'postgres') return;
    await this.db
      .selectFrom('deployments')
      .select('id')
      .where('tenant_id', '=', this.tenantId)
      .where('id', '=', deploymentId)
      .forNoKeyUpdate()
      .execute();
    await this.db
      .selectFrom('device_deployments')
      .select('id')
      .where('tenant_id', '=', this.tenantId)
      .where('deployment_id', '=', deploymentId)
      .where('device_id', '=', deviceId)
      .forUpdate()
      .execute();
  }

  /** The device's oldest active device deployment with its deployment (the poll's one indexed statement). */
  async activeAttemptOf(deviceId: string): Promise<AttemptRow | undefined> {
    const [row] = await this.prepared(
      'activeAttemptOf',
      (tenant, device) =>
        this.withDeployment()
          .where('dd.tenant_id', '=', tenant)
          .where('dd.device_id', '=', device)
          .where('dd.active', '=', 1)
          .orderBy('dd.deployment_created_ts')
          .limit(1),
      [this.tenantId, deviceId],
    );
    return row && splitAttemptRow(row);
  }

  /** A hot-path query through `runPrepared` (its SQL text built once per dialect), answering its rows. */
  private async prepared(
    name: string,
    build: (...markers: string[]) => { compile(): CompiledQuery },
    args: readonly unknown[],
  ): Promise<Record<string, unknown>[]> {
    return (await runPrepared(this.db, name, build, args)).rows;
  }

  private withDeployment() {
    return this.db
      .selectFrom('device_deployments as dd')
      .innerJoin('deployments as d', (join) =>
        join.onRef('d.id', '=', 'dd.deployment_id').onRef('d.tenant_id', '=', 'dd.tenant_id'),
      )
      .select(DEVICE_DEPLOYMENT_COLUMNS.map((c) => `dd.${c}` as const))
      .select(DEPLOYMENT_COLUMNS.map((c) => `d.${c} as d_${c}` as const));
  }

  /** Device deployments of any tenant in `statuses` whose last change is older than `cutoff`, oldest first. */
  static silent(db: Db, statuses: readonly DeviceDeploymentStatus[], cutoff: string, limit: number) {
    return db
      .selectFrom('device_deployments')
      .select(['tenant_id', 'deployment_id', 'device_id', 'status', 'updated_ts'])
      .where('status', 'in', [...statuses])
      .where('updated_ts', '<', cutoff)
      .orderBy('updated_ts')
      .limit(limit)
      .execute();
  }

  /**
   * Device deployments of any tenant waiting for their device (pending: new, or a retry), of devices that have an
   * auth set with this face (a protocol that pushes, e.g. Kanto), oldest deployment first.
   */
  static pendingOfFace(db: Db, face: string, limit: number) {
    return db
      .selectFrom('device_deployments as dd')
      .select(['dd.tenant_id', 'dd.device_id', 'dd.deployment_id', 'dd.attempts'])
      .where('dd.status', '=', 'pending')
      .where('dd.active', '=', 1)
      .where(({ exists, selectFrom }) =>
        exists(
          selectFrom('auth_sets as a')
            .select('a.id')
            .whereRef('a.tenant_id', '=', 'dd.tenant_id')
            .whereRef('a.device_id', '=', 'dd.device_id')
            .where('a.pubkey', '=', face),
        ),
      )
      .orderBy('dd.deployment_created_ts')
      .limit(limit)
      .execute();
  }

  /**
   * Finishes the deployment if it is open and none of its devices is active, in one statement (PostgreSQL re-checks
   * `finished_ts` under the row's lock, so two devices finishing at once finish it once).
   */
  async finishIfNoneActive(deploymentId: string, ts: string): Promise<void> {
    await this.prepared(
      'finishIfNoneActive',
      (tenant, deployment, at) =>
        this.db
          .updateTable('deployments')
          .set({ status: 'finished', finished_ts: at })
          .where('tenant_id', '=', tenant)
          .where('id', '=', deployment)
          .where('finished_ts', 'is', null)
          .where(({ not, exists, selectFrom }) =>
            not(
              exists(
                selectFrom('device_deployments')
                  .select('id')
                  .where('tenant_id', '=', tenant)
                  .where('deployment_id', '=', deployment)
                  .where('status', 'in', [...activeStatuses]),
              ),
            ),
          ),
      [this.tenantId, deploymentId, ts],
    );
  }

  /**
   * The sweeper's repair of a deferred finish a crash cut short: open deployments to fixed sets of devices (any
   * tenant) that have devices and none of them active any more. Answers how many it finished.
   */
  static async finishDone(db: Db, ts: string): Promise<number> {
    const result = await db
      .updateTable('deployments')
      .set({ status: 'finished', finished_ts: ts })
      .where('finished_ts', 'is', null)
      .where('target', '!=', 'filter')
      .where('device_count', '>', 0)
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom('device_deployments as dd')
              .select('dd.id')
              .whereRef('dd.tenant_id', '=', 'deployments.tenant_id')
              .whereRef('dd.deployment_id', '=', 'deployments.id')
              .where('dd.status', 'in', [...activeStatuses]),
          ),
        ),
      )
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  /** Whether any device of the deployment is still active (the deployment is not done while one is). */
  async anyActive(deploymentId: string): Promise<boolean> {
    const rows = await this.prepared(
      'anyActive',
      (tenant, deployment) =>
        this.db
          .selectFrom('device_deployments')
          .select('id')
          .where('tenant_id', '=', tenant)
          .where('deployment_id', '=', deployment)
          .where('status', 'in', [...activeStatuses])
          .limit(1),
      [this.tenantId, deploymentId],
    );
    return rows.length > 0;
  }

  /** Devices of the deployment that are done, whatever the outcome (dynamic deployments with max_devices). */
  async finishedCount(deploymentId: string): Promise<number> {
    const row = await this.db
      .selectFrom('device_deployments')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('tenant_id', '=', this.tenantId)
      .where('deployment_id', '=', deploymentId)
      .where('status', 'in', [...finishedStatuses])
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async generation(): Promise<number> {
    const row = await this.db
      .selectFrom('deployment_generations')
      .select('generation')
      .where('tenant_id', '=', this.tenantId)
      .executeTakeFirst();
    return row ? Number(row.generation) : 0;
  }

  /** A new generation: devices that cached "nothing for me" ask again. */
  async bumpGeneration(): Promise<void> {
    await this.db
      .insertInto('deployment_generations')
      .values({ tenant_id: this.tenantId, generation: 1 })
      .onConflict((oc) =>
        oc.column('tenant_id').doUpdateSet((eb) => ({ generation: eb('deployment_generations.generation', '+', 1) })),
      )
      .execute();
  }

  /** Unfinished deployments of any of these artifact names. */
  async unfinishedUsing(names: string[]): Promise<string[]> {
    if (names.length === 0) return [];
    const rows = await this.db
      .selectFrom('deployments')
      .select('id')
      .where('tenant_id', '=', this.tenantId)
      .where('type', '=', 'software')
      .where('finished_ts', 'is', null)
      .where('artifact_name', 'in', names)
      .execute();
    return rows.map((r) => r.id);
  }

  async anyUsing(artifactId: string, name: string): Promise<boolean> {
    const assigned = await this.db
      .selectFrom('device_deployments')
      .select('id')
      .where('tenant_id', '=', this.tenantId)
      .where('artifact_id', '=', artifactId)
      .limit(1)
      .executeTakeFirst();
    if (assigned) return true;
    const byName = await this.db
      .selectFrom('deployments')
      .select('id')
      .where('tenant_id', '=', this.tenantId)
      .where('type', '=', 'software')
      .where('artifact_name', '=', name)
      .limit(1)
      .executeTakeFirst();
    return byName !== undefined;
  }
}

/**
 * Deployments and device deployments by stored status across every tenant (the operator's metrics). Here, in the
 * deployments domain, because device deployments have one owner.
 */
export async function fleetStatusCounts(
  db: Kysely<Tables>,
): Promise<{ deployments: StatusCount[]; deviceDeployments: StatusCount[] }> {
  const count = (table: 'deployments' | 'device_deployments') =>
    db
      .selectFrom(table)
      .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
      .groupBy('status')
      .execute()
      .then((rows) => rows.map((row) => ({ status: row.status, count: Number(row.n) })));
  const [deployments, deviceDeployments] = await Promise.all([count('deployments'), count('device_deployments')]);
  return { deployments, deviceDeployments };
}

export interface StatusCount {
  status: string;
  count: number;
}
