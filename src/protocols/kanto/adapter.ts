// The Kanto adapter: Ditto messages of the UpdateManager feature over the broker, onto the domain. It wires the
// parts: device → cloud messages (./inbound.ts), cloud → device commands and the push loop (./outbound.ts), owner
// consent (./consent.ts), activities with their attempts (./activities.ts). Messages of one device are handled one
// at a time, in order; anything malformed, from an unknown device or replayed is refused with a log line.
// Several processes on one external broker: each subscribes to every device message and handles it (one device's
// messages in order, per process); the activity's conditional writes let one process take each event and the others
// refuse it as a replay or a lost race. Commands go out from one process, the push lease's holder (operators'
// refreshes from the process asked), and only the sender's tracker knows their answers. Not shared subscriptions
// (`$share/...`): Mosquitto hands them out round-robin, so one device's events would be taken out of order by
// several processes, and an answer could land away from its sender.
import type { Broker, BrokerLog } from '../../broker/broker.js';
import { CLOUD_FILTERS, type DeviceRef, parseCloudTopic } from '../../broker/topics.js';
import type { Services } from '../../services.js';
import { BackgroundLoop, LeasedJob } from '../../store/background.js';
import { now } from '../../store/db.js';
import type { Leases } from '../../store/leases.js';
import { Activities } from './activities.js';
import { CommandTracker } from './commands.js';
import { Consents } from './consent.js';
import type { AdapterConfig, KantoContext } from './context.js';
import type { KantoDevices } from './devices.js';
import { DeviceMessages } from './inbound.js';
import { Pushes } from './outbound.js';

export const PUSH_LEASE = 'kanto.push';

/** Why a message was refused; kept for tests and operators (the last ones, in memory). */
export interface Refusal {
  at: string;
  topic: string;
  reason: string;
}

export class KantoAdapter {
  readonly refusals: Refusal[] = [];
  readonly consents: Consents;
  private readonly ctx: KantoContext;
  private readonly pushes: Pushes;
  private readonly messages: DeviceMessages;
  private readonly tracker: CommandTracker;
  /** Per-device queues: one device's messages and pushes run one at a time, in order. */
  private readonly queues = new Map<string, Promise<unknown>>();
  private readonly pushLoop: BackgroundLoop;
  /** On an external broker every process sees every device: one of them pushes. */
  private readonly pushJob: LeasedJob;
  private stopped = false;

  constructor(
    services: Services,
    devices: KantoDevices,
    private readonly broker: Broker,
    leases: Leases,
    config: AdapterConfig,
    private readonly log: BrokerLog,
  ) {
    this.tracker = new CommandTracker({
      timeoutMs: config.kantoCommandTimeout * 1000,
      attempts: Math.max(1, config.kantoCommandAttempts),
    });
    this.ctx = {
      services,
      devices,
      store: devices.store,
      broker,
      tracker: this.tracker,
      config,
      log,
      enqueue: (ref, work) => this.enqueue(ref, work),
      refuse: (topic, reason, extra, echo) => this.refuse(topic, reason, extra, echo),
      stopped: () => this.stopped,
      sends: () => this.sends(),
    };
    const activities = new Activities(this.ctx);
    this.consents = new Consents(this.ctx, activities);
    this.pushes = new Pushes(this.ctx, activities);
    this.messages = new DeviceMessages(this.ctx, activities, this.pushes, this.consents);
    this.pushLoop = new BackgroundLoop(
      config.kantoPushInterval * 1000,
      () => this.pushDue(),
      (error) => this.log.error({ err: error }, 'kanto: push cycle failed'),
    );
    this.pushJob = new LeasedJob(leases, PUSH_LEASE, Math.max(config.kantoPushInterval, 1) * 3000);
  }

  async start(): Promise<void> {
    for (const filter of CLOUD_FILTERS) {
      await this.broker.subscribe(filter, (topic, payload) => this.onMessage(topic, payload));
    }
    this.broker.onDeviceListening((ref) => {
      void this.enqueue(ref, () => this.pushes.arrived(ref));
      // Answers the device still waits for go out on its queue too (answerWaiting queues them).
      void this.deviceIdOf(ref)
        .then((deviceId) => (deviceId ? this.consents.answerWaiting(ref.tenantId, { deviceId }) : undefined))
        .catch((error) => this.log.error({ err: error, thing: ref.deviceId }, 'kanto: consent answers failed'));
    });
    this.pushLoop.start();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.tracker.close();
    await this.pushLoop.stop();
    await Promise.allSettled([...this.queues.values()]);
    if (this.broker.kind === 'external') await this.pushJob.release();
  }

  private async sends(): Promise<boolean> {
    if (this.broker.kind !== 'external') return true;
    return (await this.pushJob.run(async () => true)) === true;
  }

  private async deviceIdOf(ref: DeviceRef): Promise<string> {
    return (await this.ctx.store.deviceByThing(ref.tenantId, ref.deviceId))?.device_id ?? '';
  }

  /** Runs `work` after everything queued for this device; errors are logged, never thrown at the caller. */
  private enqueue(ref: DeviceRef, work: () => Promise<void>): Promise<void> {
    const key = `${ref.tenantId}\u0000${ref.deviceId}`;
    const previous = this.queues.get(key) ?? Promise.resolve();
    const next = previous
      .then(() => (this.stopped ? undefined : work()))
      .catch((error) => this.log.error({ err: error, thing: ref.deviceId }, 'kanto: device work failed'));
    this.queues.set(key, next);
    void next.finally(() => {
      if (this.queues.get(key) === next) this.queues.delete(key);
    });
    return next;
  }

  /** Waits until everything queued so far has run (tests). */
  async settled(): Promise<void> {
    while (this.queues.size > 0) await Promise.allSettled([...this.queues.values()]);
  }

  private refuse(topic: string, reason: string, extra: object = {}, echo = false): void {
    if (echo && this.broker.kind === 'external') this.log.debug({ topic, reason, ...extra }, 'kanto: message refused');
    else this.log.warn({ topic, reason, ...extra }, 'kanto: message refused');
    this.refusals.push({ at: now(), topic, reason });
    if (this.refusals.length > 1000) this.refusals.shift();
  }

  private onMessage(topic: string, payload: Buffer): void {
    const parsed = parseCloudTopic(topic);
    if (!parsed) {
      this.refuse(topic, 'not a per-device Hono topic');
      return;
    }
    if (parsed.kind === 'telemetry') return;
    void this.enqueue(parsed.ref, () => this.messages.handle(topic, parsed, payload));
  }

  /** Operators: refresh one device's current state now. */
  refresh(tenantId: string, deviceId: string): Promise<{ activity_id: string }> {
    return this.pushes.refresh(tenantId, deviceId);
  }

  /**
   * One look for work: Kanto devices with a device deployment due (new, or retried after a failure), and applies
   * left open by a process that died. On an external broker only the holder of the lease pushes.
   */
  async pushDue(): Promise<number> {
    if (this.stopped) return 0;
    if (this.broker.kind === 'external') return (await this.pushJob.run(() => this.pushes.pushDue())) ?? 0;
    return this.pushes.pushDue();
  }

  /** Asks the deployments domain for every reachable Kanto device (what joins them to dynamic deployments). */
  pollAll(): Promise<void> {
    return this.pushes.pollAll();
  }
}
