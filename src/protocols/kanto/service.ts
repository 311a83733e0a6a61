// Kanto for one server process: the broker chosen by configuration (an external one when FLOTILLA_MQTT_URL is set,
// else the embedded one on --mqtt-port, unless that is 'off') and the adapter above it. A port already taken (e.g.
// by a Mosquitto on 1883) is a clear warning, not a failed start: HTTP keeps serving, Kanto over MQTT is off.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Broker, BrokerLog } from '../../broker/broker.js';
import { EmbeddedBroker } from '../../broker/embedded.js';
import { ExternalBroker } from '../../broker/external.js';
import type { Config } from '../../config.js';
import { Conflict } from '../../errors.js';
import type { Services } from '../../services.js';
import { Leases } from '../../store/leases.js';
import { KantoAdapter } from './adapter.js';
import { KantoDevices } from './devices.js';
import { KantoStore } from './store.js';

declare module 'fastify' {
  interface FastifyInstance {
    kanto: Kanto;
  }
}

export class Kanto {
  readonly devices: KantoDevices;
  broker: Broker | undefined;
  adapter: KantoAdapter | undefined;

  constructor(
    private readonly services: Services,
    private readonly config: Config,
    private readonly log: BrokerLog,
  ) {
    this.devices = new KantoDevices(services);
    // Decommissioning ends the thing's registration in the same transaction: it can no longer log in to the
    // embedded broker, and what it still sends is refused as from an unknown device.
    services.devices.onDecommission((tenantId, deviceId, trx) => new KantoStore(trx).forgetDevice(tenantId, deviceId));
  }

  async start(): Promise<void> {
    if (this.broker) return;
    const log = this.log;
    let broker: Broker;
    if (this.config.mqttUrl) {
      broker = new ExternalBroker({ url: this.config.mqttUrl, log });
    } else if (this.config.mqttPort !== 'off') {
      const { mqttTls } = this.config;
      broker = new EmbeddedBroker({
        port: this.config.mqttPort,
        host: this.config.mqttHost,
        authenticate: this.devices.authenticator(),
        log,
        ...(mqttTls.port !== 'off'
          ? { tls: { port: mqttTls.port, cert: readFileSync(mqttTls.certFile), key: readFileSync(mqttTls.keyFile) } }
          : {}),
        // A device's message may be as large as a JSON body over HTTP, plus its topic and framing.
        limits: { maxPacket: this.config.maxJsonBody + 64 * 1024 },
      });
    } else {
      log.info({}, 'kanto: no MQTT broker configured (--mqtt-port off, no FLOTILLA_MQTT_URL); Kanto devices are off');
      return;
    }
    try {
      await broker.start();
    } catch (error) {
      const code = (error as { code?: string }).code;
      log.warn(
        { err: error, port: this.config.mqttPort, url: this.config.mqttUrl ? broker.address() : undefined },
        code === 'EADDRINUSE'
          ? `kanto: MQTT port ${this.config.mqttPort} is taken (another broker?); Kanto over the embedded broker is ` +
              'disabled. Use --mqtt-port N (or FLOTILLA_MQTT_PORT) for another port, or FLOTILLA_MQTT_URL for that broker'
          : 'kanto: the MQTT broker could not be started; Kanto devices are disabled',
      );
      return;
    }
    const adapter = new KantoAdapter(
      this.services,
      this.devices,
      broker,
      new Leases(this.services.store, `kanto:${randomUUID()}`),
      this.config,
      log,
    );
    await adapter.start();
    this.broker = broker;
    this.adapter = adapter;
    const tls = broker instanceof EmbeddedBroker ? broker.tlsAddress() : undefined;
    log.info({ broker: broker.kind, address: broker.address(), ...(tls ? { tls } : {}) }, 'kanto: MQTT broker ready');
  }

  /** The running adapter, or a 409 saying Kanto is off. */
  running(): KantoAdapter {
    if (!this.adapter) throw new Conflict('Kanto is not running: no MQTT broker (see --mqtt-port / FLOTILLA_MQTT_URL)');
    return this.adapter;
  }

  async stop(): Promise<void> {
    const { adapter, broker } = this;
    this.adapter = undefined;
    this.broker = undefined;
    await adapter?.stop();
    await broker?.close();
  }
}
