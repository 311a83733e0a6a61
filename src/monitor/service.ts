// Device monitoring (Mender devicemonitor): a device posts alerts and the list of its checks; each check's latest
// alert says whether it is open (CRITICAL) or closed (OK). One POST is one transaction: the alerts, the checks'
// states and the device's inventory attribute `monitor/alerts` (true while a check is open, what Mender's GUI
// filters devices by) commit together or not at all.
import { randomUUID } from 'node:crypto';
import type { CoreDeps } from '../core.js';
import { requireDevice } from '../devices/store.js';
import type { InventoryService } from '../inventory/service.js';
import { now } from '../store/db.js';
import { type Alert, alertsOf, checksOf, type TimeRange } from './rules.js';
import { MonitorStore } from './store.js';
import type { AlertLevel, MonitorAlertTable } from './tables.js';

/** Mender's MonitorDevice (its internal devicemonitor API), the fleet-wide view. */
export interface MonitorDevice {
  id: string;
  alerts_open_count: number;
  alerts_total_count: number;
  alerts: Alert[];
}

export interface Paging {
  page: number;
  perPage: number;
}

function alertView(row: MonitorAlertTable): Alert {
  const subject: Alert['subject'] = { name: row.subject_name, type: row.subject_type, status: row.subject_status };
  if (row.details_json) subject.details = JSON.parse(row.details_json);
  return { name: row.name, level: row.level, subject, timestamp: row.issued_ts };
}

export class MonitorService {
  constructor(
    private readonly deps: CoreDeps,
    private readonly inventory: InventoryService,
  ) {}

  private store(tenantId: string): MonitorStore {
    return new MonitorStore(this.deps.store.db, tenantId);
  }

  /** A device's alerts. Within one request, and against what is stored, the later timestamp decides a check. */
  async receiveAlerts(tenantId: string, deviceId: string, body: unknown): Promise<void> {
    const alerts = alertsOf(body);
    const received = now();
    await this.deps.store.transaction(async (trx) => {
      const store = new MonitorStore(trx, tenantId);
      for (const alert of alerts) {
        const id = randomUUID();
        await store.insertAlert({
          id,
          device_id: deviceId,
          name: alert.name,
          level: alert.level,
          subject_name: alert.subject.name,
          subject_type: alert.subject.type,
          subject_status: alert.subject.status,
          details_json: alert.subject.details ? JSON.stringify(alert.subject.details) : null,
          issued_ts: alert.timestamp,
          received_ts: received,
        });
        await store.recordCheck({
          device_id: deviceId,
          name: alert.name,
          subject_name: alert.subject.name,
          alert_id: id,
          level: alert.level,
          issued_ts: alert.timestamp,
        });
      }
      const open = (await store.openCount(deviceId)) > 0;
      await this.inventory.setAttributes(
        tenantId,
        deviceId,
        'monitor',
        [{ name: 'alerts', value: open }],
        'merge',
        trx,
      );
    });
  }

  /** The device's list of checks replaces the one it sent before. */
  async receiveChecks(tenantId: string, deviceId: string, body: unknown): Promise<void> {
    const checks = checksOf(body);
    await this.deps.store.transaction((trx) =>
      new MonitorStore(trx, tenantId).setChecks(deviceId, JSON.stringify(checks), now()),
    );
  }

  async alerts(
    tenantId: string,
    deviceId: string,
    range: TimeRange,
    ascending: boolean,
    paging: Paging,
  ): Promise<{ alerts: Alert[]; total: number }> {
    await requireDevice(this.deps.store.db, tenantId, deviceId);
    const { rows, total } = await this.store(tenantId).alerts(deviceId, {
      ...range,
      ascending,
      offset: (paging.page - 1) * paging.perPage,
      limit: paging.perPage,
    });
    return { alerts: rows.map(alertView), total };
  }

  /** The latest alert of each of the device's checks (at `levelFrom` or above), oldest first. */
  async latestAlerts(
    tenantId: string,
    deviceId: string,
    levelFrom: AlertLevel,
    range: TimeRange,
    paging: Paging,
  ): Promise<{ alerts: Alert[]; total: number }> {
    await requireDevice(this.deps.store.db, tenantId, deviceId);
    const rows = await this.store(tenantId).latest({ deviceIds: [deviceId], levelFrom, ...range });
    const start = (paging.page - 1) * paging.perPage;
    return { alerts: rows.slice(start, start + paging.perPage).map(alertView), total: rows.length };
  }

  async checks(tenantId: string, deviceId: string): Promise<unknown[]> {
    await requireDevice(this.deps.store.db, tenantId, deviceId);
    const json = await this.store(tenantId).checks(deviceId);
    return json ? JSON.parse(json) : [];
  }

  /** Devices with alerts across the fleet, the most recently alerting first, each with its checks' latest alerts. */
  async devices(
    tenantId: string,
    filter: { deviceIds?: string[]; levelFrom: AlertLevel } & TimeRange,
    paging: Paging,
  ): Promise<{ devices: MonitorDevice[]; total: number }> {
    const store = this.store(tenantId);
    const { rows, total } = await store.devices(filter, (paging.page - 1) * paging.perPage, paging.perPage);
    const latest = await store.latest({
      deviceIds: rows.map((r) => r.device_id),
      levelFrom: filter.levelFrom,
      issuedBefore: filter.issuedBefore,
      issuedAfter: filter.issuedAfter,
    });
    const devices = rows.map((r) => ({
      id: r.device_id,
      alerts_open_count: r.open,
      alerts_total_count: r.total,
      alerts: latest.filter((a) => a.device_id === r.device_id).map(alertView),
    }));
    return { devices, total };
  }
}
