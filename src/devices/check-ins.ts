// Write-behind check-ins. A device's use of its token is a check-in, kept to the minute on the device row and once
// a day in inventory's `system/check_in_time` (`checkInDue`). A request only notes in memory that the device was
// seen (no SQL on the request path); every FLUSH_MS, when the app closes, and before a read that would show a noted
// device, `flush` hands the noted devices to `write`, which reads their stored check-in times and writes the due
// ones in one statement per chunk of devices (DeviceStore.advanceCheckIns).
// - A crash loses at most the last FLUSH_MS of check-ins (plus a flush under way): advisory bookkeeping, and the
//   device's next poll notes it again. A graceful shutdown writes them (`stop`, from the app's preClose).
// - Several processes: each notes and flushes its own devices. The decision is taken against the database, and the
//   write moves a time only forward (a monotonic max), so the latest check-in wins whatever order processes flush
//   in, and a device polling two processes is written about once a minute.
// - Readers: device reads and lists flush first when they would show a noted device; everything else (inventory's
//   daily copy and filters on it, the web UI through the same lists) is behind by at most FLUSH_MS. A failed write
//   is dropped, as a failed check-in never refused a device.

/** How often seen devices are written. */
export const FLUSH_MS = 1_000;

/** Tenant id → device id → when it was last seen (epoch ms; formatted only when written). */
export type SeenDevices = Map<string, Map<string, number>>;

export class CheckIns {
  private seen: SeenDevices = new Map();
  /** What the flush under way is writing. */
  private writing: SeenDevices = new Map();
  private flushing: Promise<void> = Promise.resolve();
  private timer?: NodeJS.Timeout;

  constructor(private readonly write: (seen: SeenDevices) => Promise<void>) {}

  note(tenantId: string, deviceId: string, ts: number): void {
    let devices = this.seen.get(tenantId);
    if (!devices) {
      devices = new Map();
      this.seen.set(tenantId, devices);
    }
    devices.set(deviceId, ts);
  }

  /** Whether a check-in of this device (or of any device of the tenant) is noted and not yet written. */
  noted(tenantId: string, deviceId?: string): boolean {
    return [this.seen, this.writing].some((seen) => {
      const devices = seen.get(tenantId);
      return devices !== undefined && (deviceId === undefined || devices.has(deviceId));
    });
  }

  /** Writes what was seen so far (after any flush already under way). Failures are dropped, see above. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      if (this.seen.size === 0) return;
      this.writing = this.seen;
      this.seen = new Map();
      await this.write(this.writing).catch(() => undefined);
      this.writing = new Map();
    });
    return this.flushing;
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      this.flush().catch(() => undefined);
    }, FLUSH_MS);
    this.timer.unref();
  }

  /** Stops the timer and writes what is left. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }
}
