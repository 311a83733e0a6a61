// An external broker (Mosquitto, a Hono MQTT adapter reached through a broker bridge): Flotilla connects as one
// client and speaks the per-device topics of ./topics.ts. Who may publish on which device's topics is the broker's
// business (e.g. a Mosquitto ACL `pattern write event/<tenant>/%u`); the adapter still refuses unknown devices.
// mqtt.js reconnects; each connection subscribes again. The connection survives whatever a device sends.
import { randomBytes } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import type { Broker, BrokerLog, BrokerStatus, MessageHandler } from './broker.js';
import type { DeviceRef } from './topics.js';

export interface ExternalBrokerOptions {
  url: string;
  log: BrokerLog;
  clientId?: string;
}

/** MQTT topic filter matching, for dispatching one connection's messages to the handlers that asked for them. */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  if (topic.startsWith('$') && (f[0] === '#' || f[0] === '+')) return false;
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

export class ExternalBroker implements Broker {
  readonly kind = 'external' as const;
  private client: MqttClient | undefined;
  private readonly handlers: { filter: string; handler: MessageHandler }[] = [];

  constructor(private readonly options: ExternalBrokerOptions) {}

  async start(): Promise<void> {
    const { log } = this.options;
    // Not connectAsync: a broker that is down or unreachable must not hold up the server's start. mqtt.js keeps
    // reconnecting; every (re)connection subscribes again to what the adapter asked for.
    const client = mqtt.connect(this.options.url, {
      clientId: this.options.clientId ?? `flotilla-${randomBytes(8).toString('hex')}`,
      clean: true,
      reconnectPeriod: 2000,
      connectTimeout: 10_000,
      protocolVersion: 4,
      resubscribe: false,
    });
    client.on('connect', () => {
      log.info({ url: this.redactedUrl() }, 'kanto: connected to the external MQTT broker');
      for (const filter of new Set(this.handlers.map((h) => h.filter))) {
        client.subscribe(filter, { qos: 1 }, (error) => {
          if (error) log.error({ err: error, filter }, 'kanto: MQTT subscription failed');
        });
      }
    });
    client.on('message', (topic, payload) => {
      for (const { filter, handler } of this.handlers) {
        if (!topicMatches(filter, topic)) continue;
        try {
          handler(topic, payload);
        } catch (error) {
          log.error({ topic, err: error }, 'kanto: MQTT message handler failed');
        }
      }
    });
    client.on('error', (error) =>
      log.warn({ err: error, url: this.redactedUrl() }, 'kanto: external MQTT broker error'),
    );
    client.on('offline', () => log.warn({ url: this.redactedUrl() }, 'kanto: external MQTT broker offline'));
    this.client = client;
    const connected = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 5000);
      client.once('connect', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    if (!connected) {
      log.warn(
        { url: this.redactedUrl() },
        'kanto: external MQTT broker not reachable yet; connecting in the background',
      );
    }
  }

  private connection(): MqttClient {
    if (!this.client) throw new Error('not connected to the external MQTT broker');
    return this.client;
  }

  async publish(topic: string, payload: string | Buffer): Promise<void> {
    await this.connection().publishAsync(topic, payload, { qos: 1 });
  }

  async subscribe(filter: string, handler: MessageHandler): Promise<void> {
    this.handlers.push({ filter, handler });
    const client = this.connection();
    // While offline, the next connection subscribes (see start).
    if (client.connected) await client.subscribeAsync(filter, { qos: 1 });
  }

  isListening(_ref: DeviceRef): undefined {
    return undefined;
  }

  onDeviceListening(): void {
    // An external broker does not tell who connects; the adapter learns it from the device's first message.
  }

  /** The broker URL without its password, for logs. */
  redactedUrl(): string {
    try {
      const url = new URL(this.options.url);
      if (url.password) url.password = '***';
      return url.toString();
    } catch {
      return '(invalid url)';
    }
  }

  status(): BrokerStatus {
    if (this.client?.connected) return { up: true, connections: 1 };
    return { up: false, reason: `not connected to ${this.redactedUrl()}`, connections: 0 };
  }

  address(): string {
    return this.redactedUrl();
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client) await client.endAsync(!client.connected);
  }
}
