// Live attempts as this process last wrote or read them, so that a device's next report need not read its row
// first: the report's update then names the row's status and `updated_ts` as remembered, and a row that anyone else
// changed meanwhile (another process, an operator's abort, the sweeper) updates nothing and is read again. (Every
// write of a device deployment sets `updated_ts`, in milliseconds: only two writes elsewhere within the millisecond
// of the one remembered that leave its status as it was could go unseen.)
import { isActive } from './rules/status.js';
import type { AttemptRow } from './store.js';

/** Attempts remembered at most (about 2 KiB each); all are forgotten at once beyond this. */
const MAX_ATTEMPTS = 20_000;

export class AttemptCache {
  private readonly rows = new Map<string, AttemptRow>();

  constructor(private readonly capacity = MAX_ATTEMPTS) {}

  get(tenantId: string, deploymentId: string, deviceId: string): AttemptRow | undefined {
    return this.rows.get(`${tenantId}|${deploymentId}|${deviceId}`);
  }

  /**
   * The row as it is in the database now (just read, or just written by this process). Only live attempts whose
   * row carries its `updated_ts` (every write sets it) are kept: an ended one gets no more reports worth saving.
   */
  remember(tenantId: string, row: AttemptRow): void {
    const key = `${tenantId}|${row.dd.deployment_id}|${row.dd.device_id}`;
    if (!isActive(row.dd.status) || row.dd.updated_ts === null) {
      this.rows.delete(key);
      return;
    }
    if (this.rows.size >= this.capacity && !this.rows.has(key)) this.rows.clear();
    this.rows.set(key, row);
  }

  forget(tenantId: string, deploymentId: string, deviceId: string): void {
    this.rows.delete(`${tenantId}|${deploymentId}|${deviceId}`);
  }

  get size(): number {
    return this.rows.size;
  }
}
