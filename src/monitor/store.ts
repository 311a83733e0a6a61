// SQL of device monitoring: alerts, check states and monitor configuration, bound to one tenant.
import type { Kysely, Transaction } from 'kysely';
import type { Tables } from '../store/schema.js';
import type { AlertLevel, MonitorAlertTable, MonitorCheckTable } from './tables.js';

type Db = Kysely<Tables> | Transaction<Tables>;

export interface AlertQuery {
  issuedBefore?: string;
  issuedAfter?: string;
  ascending: boolean;
  offset: number;
  limit: number;
}

export interface LatestQuery {
  deviceIds?: string[];
  levelFrom: AlertLevel;
  issuedBefore?: string;
  issuedAfter?: string;
}

export class MonitorStore {
  constructor(
    private readonly db: Db,
    private readonly tenantId: string,
  ) {}

  async insertAlert(row: Omit<MonitorAlertTable, 'tenant_id'>): Promise<void> {
    await this.db
      .insertInto('monitor_alerts')
      .values({ ...row, tenant_id: this.tenantId })
      .execute();
  }

  /**
   * Makes `row` the check's latest alert unless the check already has a later one: one statement, so two requests
   * about the same new check cannot both try to create it.
   */
  async recordCheck(row: Omit<MonitorCheckTable, 'tenant_id'>): Promise<void> {
    await this.db
      .insertInto('monitor_checks')
      .values({ ...row, tenant_id: this.tenantId })
      .onConflict((oc) =>
        oc
          .columns(['tenant_id', 'device_id', 'name', 'subject_name'])
          .doUpdateSet((eb) => ({
            alert_id: eb.ref('excluded.alert_id'),
            level: eb.ref('excluded.level'),
            issued_ts: eb.ref('excluded.issued_ts'),
          }))
          .where('monitor_checks.issued_ts', '<=', (eb) => eb.ref('excluded.issued_ts')),
      )
      .execute();
  }

  async openCount(deviceId: string): Promise<number> {
    const row = await this.db
      .selectFrom('monitor_checks')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('tenant_id', '=', this.tenantId)
      .where('device_id', '=', deviceId)
      .where('level', '=', 'CRITICAL')
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  private alertsOf(deviceId: string, q: { issuedBefore?: string; issuedAfter?: string }) {
    let query = this.db
      .selectFrom('monitor_alerts')
      .where('tenant_id', '=', this.tenantId)
      .where('device_id', '=', deviceId);
    if (q.issuedBefore) query = query.where('issued_ts', '<', q.issuedBefore);
    if (q.issuedAfter) query = query.where('issued_ts', '>', q.issuedAfter);
    return query;
  }

  async alerts(deviceId: string, q: AlertQuery): Promise<{ rows: MonitorAlertTable[]; total: number }> {
    const dir = q.ascending ? 'asc' : 'desc';
    const rows = await this.alertsOf(deviceId, q)
      .selectAll()
      .orderBy('issued_ts', dir)
      .orderBy('received_ts', dir)
      .orderBy('id', dir)
      .offset(q.offset)
      .limit(q.limit)
      .execute();
    const count = await this.alertsOf(deviceId, q)
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    return { rows, total: Number(count.n) };
  }

  /** The latest alert of every check that matches, oldest first. */
  async latest(q: LatestQuery): Promise<(MonitorAlertTable & { check_level: AlertLevel })[]> {
    let query = this.db
      .selectFrom('monitor_checks as c')
      .innerJoin('monitor_alerts as a', 'a.id', 'c.alert_id')
      .selectAll('a')
      .select('c.level as check_level')
      .where('c.tenant_id', '=', this.tenantId);
    if (q.deviceIds) query = query.where('c.device_id', 'in', q.deviceIds.length ? q.deviceIds : ['']);
    if (q.levelFrom === 'CRITICAL') query = query.where('c.level', '=', 'CRITICAL');
    if (q.issuedBefore) query = query.where('c.issued_ts', '<', q.issuedBefore);
    if (q.issuedAfter) query = query.where('c.issued_ts', '>', q.issuedAfter);
    return query.orderBy('c.issued_ts', 'asc').orderBy('a.received_ts', 'asc').orderBy('a.id', 'asc').execute();
  }

  /**
   * Devices with alerts (only those with an open one at `CRITICAL`), latest alert first, and their counts; the
   * time bounds apply to the checks' latest alerts.
   */
  async devices(
    q: { deviceIds?: string[]; levelFrom: AlertLevel; issuedBefore?: string; issuedAfter?: string },
    offset: number,
    limit: number,
  ): Promise<{ rows: { device_id: string; open: number; total: number; last: string }[]; total: number }> {
    let query = this.db
      .selectFrom('monitor_checks')
      .where('tenant_id', '=', this.tenantId)
      .groupBy('device_id')
      .select((eb) => [
        'device_id',
        eb.fn.max('issued_ts').as('last'),
        eb.fn.sum<number>(eb.case().when('level', '=', 'CRITICAL').then(1).else(0).end()).as('open'),
      ]);
    if (q.deviceIds) query = query.where('device_id', 'in', q.deviceIds.length ? q.deviceIds : ['']);
    if (q.issuedBefore) query = query.where('issued_ts', '<', q.issuedBefore);
    if (q.issuedAfter) query = query.where('issued_ts', '>', q.issuedAfter);
    if (q.levelFrom === 'CRITICAL') {
      query = query.having((eb) => eb.fn.sum(eb.case().when('level', '=', 'CRITICAL').then(1).else(0).end()), '>', 0);
    }
    const page = await query.orderBy('last', 'desc').orderBy('device_id').offset(offset).limit(limit).execute();
    const count = await this.db
      .selectFrom(query.as('g'))
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    const totals = new Map<string, number>();
    if (page.length) {
      const counted = await this.db
        .selectFrom('monitor_alerts')
        .where('tenant_id', '=', this.tenantId)
        .where(
          'device_id',
          'in',
          page.map((r) => r.device_id),
        )
        .groupBy('device_id')
        .select((eb) => ['device_id', eb.fn.countAll<number>().as('n')])
        .execute();
      for (const r of counted) totals.set(r.device_id, Number(r.n));
    }
    return {
      rows: page.map((r) => ({
        device_id: r.device_id,
        open: Number(r.open),
        total: totals.get(r.device_id) ?? 0,
        last: String(r.last),
      })),
      total: Number(count.n),
    };
  }

  async checks(deviceId: string): Promise<string | undefined> {
    const row = await this.db
      .selectFrom('monitor_configs')
      .select('checks_json')
      .where('tenant_id', '=', this.tenantId)
      .where('device_id', '=', deviceId)
      .executeTakeFirst();
    return row?.checks_json;
  }

  async setChecks(deviceId: string, checksJson: string, ts: string): Promise<void> {
    await this.db
      .insertInto('monitor_configs')
      .values({ tenant_id: this.tenantId, device_id: deviceId, checks_json: checksJson, updated_ts: ts })
      .onConflict((oc) => oc.column('device_id').doUpdateSet({ checks_json: checksJson, updated_ts: ts }))
      .execute();
  }
}
