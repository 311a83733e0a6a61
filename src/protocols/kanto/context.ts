// What the parts of the Kanto adapter share: the domain services, Kanto's store, the broker, the command tracker,
// and the per-device queue on which one device's messages and pushes run one at a time, in order.
import type { Broker, BrokerLog } from '../../broker/broker.js';
import type { DeviceRef } from '../../broker/topics.js';
import type { Config } from '../../config.js';
import type { Services } from '../../services.js';
import type { CommandTracker } from './commands.js';
import type { KantoDevices } from './devices.js';
import type { KantoStore } from './store.js';

export type AdapterConfig = Pick<Config, 'kantoCommandTimeout' | 'kantoCommandAttempts' | 'kantoPushInterval'>;

export interface KantoContext {
  readonly services: Services;
  readonly devices: KantoDevices;
  readonly store: KantoStore;
  readonly broker: Broker;
  readonly tracker: CommandTracker;
  readonly config: AdapterConfig;
  readonly log: BrokerLog;
  /** Runs `work` after everything queued for this device; errors are logged, never thrown at the caller. */
  enqueue(ref: DeviceRef, work: () => Promise<void>): Promise<void>;
  /**
   * Logs and remembers why a device's message changed nothing. `echo`: a message another process of several may
   * have taken (a replay, a lost race, an answer to another process's command), logged at debug on an external
   * broker, where every process hears every message.
   */
  refuse(topic: string, reason: string, extra?: object, echo?: boolean): void;
  /** True once the adapter stops: nothing new is sent. */
  stopped(): boolean;
  /**
   * Whether this process sends commands on its own initiative. Always on the embedded broker; on an external one,
   * where every process hears every device, only the holder of the push lease does (see adapter.ts).
   */
  sends(): Promise<boolean>;
}
