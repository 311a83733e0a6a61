// The MQTT broker as the Kanto adapter sees it: publish and subscribe on per-device topics (./topics.ts), and
// which devices can be reached. Two implementations: an embedded aedes broker (./embedded.ts) that devices connect
// to with Flotilla credentials, and one client connection to an external broker (./external.ts).
import type { DeviceRef } from './topics.js';

export type MessageHandler = (topic: string, payload: Buffer) => void;

export interface Broker {
  readonly kind: 'embedded' | 'external';
  /** Starts listening (embedded) or connects (external). */
  start(): Promise<void>;
  publish(topic: string, payload: string | Buffer): Promise<void>;
  subscribe(filter: string, handler: MessageHandler): Promise<void>;
  /**
   * Whether a device can take commands now: its connection (the device's connector, e.g. Kanto's suite-connector,
   * not the update manager behind it) is up and subscribed to its commands. The embedded broker knows; an external
   * broker cannot tell, so it answers undefined and the adapter judges by what it last heard from the device.
   */
  isListening(ref: DeviceRef): boolean | undefined;
  /**
   * Called when a device's connection subscribes to its commands (embedded broker only: an external broker does
   * not say). Not on connect: a command sent before the subscription exists is lost.
   */
  onDeviceListening(handler: (ref: DeviceRef) => void): void;
  /**
   * For readiness and metrics: whether the broker can carry messages now (embedded: listening; external: connected)
   * and how many MQTT connections it holds (embedded: device clients; external: Flotilla's own, 0 or 1).
   */
  status(): BrokerStatus;
  /** Where devices connect, for logs and tests. */
  address(): string;
  close(): Promise<void>;
}

export interface BrokerStatus {
  up: boolean;
  reason?: string;
  connections: number;
}

/** What the embedded broker asks before it lets a client in. */
export type DeviceAuthenticator = (
  username: string | undefined,
  password: Buffer | undefined,
) => Promise<DeviceRef | { refused: 'bad-credentials' | 'not-authorized'; reason: string }>;

export interface BrokerLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}
