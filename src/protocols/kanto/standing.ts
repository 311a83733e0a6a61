// Where a thing's device stands (registered, admitted, not rejected or decommissioned), remembered per process so
// that a device's feedback and command answers are not each a read of its standing. Only a standing of 'ok' is kept.
// Like token liveness (src/auth/liveness.ts), an entry answers only while the revocation feed is fresh, and goes when
// the feed names its device: decommissioning and every change of an auth set away from accepted revoke the device
// (src/devices/store.ts), on every process within the feed's bound (STALE_AFTER_MS), at once on the process that
// made the change. Messages that write what the device runs (current state) read the row afresh.
import type { RevocationFeed } from '../../auth/revocations.js';
import type { KantoStore } from './store.js';

export type Standing = NonNullable<Awaited<ReturnType<KantoStore['deviceWithStanding']>>>;

const MAX = 100_000;
const keyOf = (tenantId: string, thingId: string) => `${tenantId}\u0000${thingId}`;

export class Standings {
  /** (tenant, thing) → the row as last read or written here. */
  private readonly rows = new Map<string, Standing>();
  /** (tenant, device id) → the thing's key, to find an entry from a revocation. */
  private readonly byDevice = new Map<string, string>();

  constructor(
    private readonly feed: RevocationFeed,
    private readonly store: KantoStore,
  ) {
    feed.subscribe((batch) => {
      if (batch === null) {
        this.rows.clear();
        this.byDevice.clear();
        return;
      }
      for (const r of batch) if (r.kind === 'device') this.forgetDevice(r.tenantId, r.id);
    });
  }

  /** The thing's row with its standing: remembered when the feed allows, else read (and remembered when 'ok'). */
  async get(tenantId: string, thingId: string, fresh = false): Promise<Standing | undefined> {
    if (!fresh && this.feed.fresh()) {
      const remembered = this.rows.get(keyOf(tenantId, thingId));
      if (remembered) return remembered;
    }
    const generation = this.feed.generation;
    const row = await this.store.deviceWithStanding(tenantId, thingId);
    this.forget(tenantId, thingId);
    if (row && generation === this.feed.generation && standingOf(row) === 'ok' && row.last_seen_ts !== null) {
      if (this.rows.size >= MAX) {
        // The oldest entry, whichever tenant it belongs to (its own tenant id, or it would never go).
        const oldest = this.rows.values().next().value as Standing;
        this.forget(oldest.tenant_id, oldest.thing_id);
      }
      this.rows.set(keyOf(tenantId, thingId), row);
      this.byDevice.set(keyOf(tenantId, row.device_id), keyOf(tenantId, thingId));
    }
    return row;
  }

  forget(tenantId: string, thingId: string): void {
    const row = this.rows.get(keyOf(tenantId, thingId));
    if (!row) return;
    this.rows.delete(keyOf(tenantId, thingId));
    this.byDevice.delete(keyOf(row.tenant_id, row.device_id));
  }

  private forgetDevice(tenantId: string, deviceId: string): void {
    const key = this.byDevice.get(keyOf(tenantId, deviceId));
    const row = key === undefined ? undefined : this.rows.get(key);
    if (row) this.forget(row.tenant_id, row.thing_id);
  }
}

/** Where a thing's device stands in admission, read with the thing (see KantoStore.deviceWithStanding). */
export function standingOf(device: {
  standing_device: string | null;
  standing_decommissioning: number | null;
  face_status: string | null;
}): 'ok' | string {
  if (!device.standing_device) return 'the device was decommissioned; register the thing again';
  if (!device.face_status) return 'the device has no Kanto admission; register the thing again';
  if (device.face_status === 'rejected') return 'the device was rejected by an operator';
  if (device.standing_decommissioning) return 'the device is being decommissioned';
  return 'ok';
}
