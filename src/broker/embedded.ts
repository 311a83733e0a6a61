// The embedded broker (aedes): Kanto devices connect to Flotilla itself. Every client is a device that proved
// who it is with Flotilla credentials (anonymous clients are refused); the broker then confines it to its own
// topics, rewriting Hono's device-less forms to the per-device forms the adapter speaks (see ./topics.ts). A publish
// the device may not make is acknowledged and dropped (MQTT 3.1.1 cannot refuse one without closing the
// connection), with a log line.
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { Aedes, type AedesPublishPacket, type AuthenticateError, type Client } from 'aedes';
import type { Broker, BrokerLog, BrokerStatus, DeviceAuthenticator, MessageHandler } from './broker.js';
import { type BrokerLimits, DEFAULT_BROKER_LIMITS, PacketFrames, PeerBook } from './guard.js';
import {
  type CommandForm,
  type DeviceRef,
  devicePublishTopic,
  deviceSubscription,
  forwardedCommandTopic,
} from './topics.js';

/** Where refused publishes go: no device may subscribe there, and `#` does not match `$` topics. */
const DROPPED = '$flotilla/dropped';

interface Session {
  ref: DeviceRef;
  form: CommandForm;
}

export interface EmbeddedBrokerOptions {
  port: number;
  host: string;
  /** MQTT over TLS beside plain MQTT, on the same broker (the same devices, credentials and topics). */
  tls?: { port: number; cert: Buffer; key: Buffer };
  authenticate: DeviceAuthenticator;
  log: BrokerLog;
  /** Per-connection and per-address limits (./guard.ts); defaults where not given. */
  limits?: Partial<BrokerLimits>;
}

const remoteAddressOf = (client: Client): string =>
  (client.conn as { remoteAddress?: string } | undefined)?.remoteAddress ?? '';

const keyOf = (ref: DeviceRef) => `${ref.tenantId}\u0000${ref.deviceId}`;

function addTo(map: Map<string, Set<Client>>, key: string, client: Client): void {
  const clients = map.get(key) ?? new Set<Client>();
  clients.add(client);
  map.set(key, clients);
}

/** Removes the client; answers how many clients the key still has. */
function removeFrom(map: Map<string, Set<Client>>, key: string, client: Client): number {
  const clients = map.get(key);
  if (!clients) return 0;
  clients.delete(client);
  if (clients.size === 0) map.delete(key);
  return clients.size;
}

export class EmbeddedBroker implements Broker {
  readonly kind = 'embedded' as const;
  private aedes: Aedes | undefined;
  private server: Server | undefined;
  private tlsServer: TlsServer | undefined;
  private readonly sessions = new WeakMap<Client, Session>();
  /** Connected clients per device (a reconnecting device may briefly have two). */
  private readonly online = new Map<string, Set<Client>>();
  /** The connected clients of a device that are subscribed to its commands. */
  private readonly listening = new Map<string, Set<Client>>();
  /** Which device each connected client id belongs to. */
  private readonly clientOwners = new Map<string, string>();
  private readonly listeningHandlers: ((ref: DeviceRef) => void)[] = [];
  private port = 0;
  private readonly limits: BrokerLimits;
  private readonly peers: PeerBook;

  constructor(private readonly options: EmbeddedBrokerOptions) {
    this.limits = { ...DEFAULT_BROKER_LIMITS, ...options.limits };
    this.peers = new PeerBook(this.limits);
  }

  async start(): Promise<void> {
    const { log } = this.options;
    const aedes = await Aedes.createBroker({
      authenticate: (client, username, password, done) => {
        const address = remoteAddressOf(client);
        if (this.peers.throttled(address)) {
          log.warn({ client: client.id, address }, 'kanto: MQTT login refused unchecked: too many failed logins');
          const error = new Error('too many failed logins') as AuthenticateError;
          error.returnCode = 5;
          done(error, false);
          return;
        }
        this.options
          .authenticate(username, password)
          .then((outcome) => {
            if ('refused' in outcome) {
              if (outcome.refused === 'bad-credentials') this.peers.loginFailed(address);
              log.warn({ client: client.id, username, reason: outcome.reason }, 'kanto: MQTT connection refused');
              const error = new Error(outcome.reason) as AuthenticateError;
              error.returnCode = outcome.refused === 'bad-credentials' ? 4 : 5;
              done(error, false);
              return;
            }
            // MQTT lets a new connection with a client id take over the old one: never another device's.
            const owner = this.clientOwners.get(client.id);
            if (owner !== undefined && owner !== keyOf(outcome)) {
              log.warn({ client: client.id, username }, 'kanto: MQTT client id belongs to another device; refused');
              const error = new Error('client id in use by another device') as AuthenticateError;
              error.returnCode = 2;
              done(error, false);
              return;
            }
            this.sessions.set(client, { ref: outcome, form: 'hono' });
            done(null, true);
          })
          .catch((error: unknown) => {
            log.error({ client: client.id, err: error }, 'kanto: MQTT authentication failed');
            const refusal = new Error('server unavailable') as AuthenticateError;
            refusal.returnCode = 3;
            done(refusal, false);
          });
      },
      authorizeSubscribe: (client, subscription, done) => {
        const session = this.sessions.get(client);
        const allowed = session && deviceSubscription(subscription.topic, session.ref);
        if (!session || !allowed) {
          log.warn({ client: client?.id, topic: subscription.topic }, 'kanto: MQTT subscription refused');
          done(null, null);
          return;
        }
        session.form = allowed.form;
        done(null, { ...subscription, topic: allowed.filter });
      },
      authorizePublish: (client, packet, done) => {
        const session = client ? this.sessions.get(client) : undefined;
        const topic = session && devicePublishTopic(packet.topic, session.ref);
        if (!topic) {
          log.warn({ client: client?.id, topic: packet.topic }, 'kanto: MQTT publish refused and dropped');
          packet.topic = DROPPED;
          packet.retain = false;
        } else {
          packet.topic = topic;
        }
        done(null);
      },
      authorizeForward: (client, packet) => {
        const session = this.sessions.get(client);
        if (!session) return null;
        const topic = forwardedCommandTopic(packet.topic, session.ref, session.form);
        return topic ? ({ ...packet, topic } as AedesPublishPacket) : null;
      },
    });
    aedes.on('clientReady', (client) => {
      const session = this.sessions.get(client);
      if (!session) return;
      const key = keyOf(session.ref);
      this.clientOwners.set(client.id, key);
      addTo(this.online, key, client);
    });
    // A device can take commands once its command subscription exists: only then is it told that it is listening.
    // (The event carries the filters as the device sent them, with the QoS granted: 128 is a refusal.)
    const commands = (filter: string, ref: DeviceRef) => deviceSubscription(filter, ref) !== undefined;
    aedes.on('subscribe', (subscriptions, client) => {
      const session = client && this.sessions.get(client);
      if (!session || !subscriptions.some((s) => (s.qos as number) !== 128 && commands(s.topic, session.ref))) return;
      addTo(this.listening, keyOf(session.ref), client);
      for (const handler of this.listeningHandlers) handler(session.ref);
    });
    aedes.on('unsubscribe', (unsubscriptions, client) => {
      const session = client && this.sessions.get(client);
      if (session && unsubscriptions.some((filter) => commands(filter, session.ref))) {
        removeFrom(this.listening, keyOf(session.ref), client);
      }
    });
    aedes.on('clientDisconnect', (client) => {
      const session = this.sessions.get(client);
      if (!session) return;
      const key = keyOf(session.ref);
      removeFrom(this.listening, key, client);
      const left = removeFrom(this.online, key, client);
      if (left === 0 && this.clientOwners.get(client.id) === key) this.clientOwners.delete(client.id);
    });
    aedes.on('clientError', (client, error) =>
      log.debug({ client: client.id, err: error }, 'kanto: MQTT client error'),
    );
    this.aedes = aedes;
    const { tls } = this.options;
    try {
      this.server = await listen(
        createServer((socket) => this.accept(aedes, socket)),
        this.options.port,
        this.options.host,
      );
      if (tls) {
        this.tlsServer = await listen(
          createTlsServer({ cert: tls.cert, key: tls.key }, (socket) => this.accept(aedes, socket)),
          tls.port,
          this.options.host,
        );
      }
    } catch (error) {
      await this.close();
      throw error;
    }
    this.port = portOf(this.server, this.options.port);
  }

  /**
   * A new connection: counted against its address, then handed to aedes with its packets' sizes watched from
   * their first bytes; one over the limit (smaller until the CONNECT is accepted) closes the connection before
   * aedes buffers it.
   */
  private accept(aedes: Aedes, socket: Socket): void {
    const { log } = this.options;
    const address = socket.remoteAddress ?? '';
    if (!this.peers.connect(address)) {
      log.warn({ address }, 'kanto: MQTT connection refused: too many connections from this address');
      socket.destroy();
      return;
    }
    socket.once('close', () => this.peers.disconnect(address));
    const client = aedes.handle(socket);
    const frames = new PacketFrames();
    // With aedes reading on 'readable', 'data' only reports what it reads: this listener does not start the flow.
    socket.on('data', (chunk: Buffer) => {
      const authenticated = this.sessions.has(client);
      const limit = authenticated ? this.limits.maxPacket : this.limits.maxPacketBeforeAuth;
      const size = frames.over(chunk, limit);
      if (size === undefined) return;
      log.warn({ address, client: client.id, size, limit, authenticated }, 'kanto: MQTT packet too large; closed');
      socket.destroy();
    });
  }

  private broker(): Aedes {
    if (!this.aedes) throw new Error('the embedded MQTT broker is not running');
    return this.aedes;
  }

  publish(topic: string, payload: string | Buffer): Promise<void> {
    const broker = this.broker();
    return new Promise((resolve, reject) =>
      broker.publish(
        { cmd: 'publish', topic, payload: Buffer.from(payload), qos: 1, retain: false, dup: false },
        (error) => (error ? reject(error) : resolve()),
      ),
    );
  }

  subscribe(filter: string, handler: MessageHandler): Promise<void> {
    const broker = this.broker();
    return new Promise((resolve) =>
      broker.subscribe(
        filter,
        (packet, done) => {
          // The adapter's work is asynchronous and must not hold up delivery to anyone else.
          handler(packet.topic, Buffer.from(packet.payload));
          done();
        },
        () => resolve(),
      ),
    );
  }

  isListening(ref: DeviceRef): boolean {
    return (this.listening.get(keyOf(ref))?.size ?? 0) > 0;
  }

  onDeviceListening(handler: (ref: DeviceRef) => void): void {
    this.listeningHandlers.push(handler);
  }

  status(): BrokerStatus {
    if (!this.aedes || !this.server?.listening)
      return { up: false, reason: 'embedded broker not listening', connections: 0 };
    return { up: true, connections: this.aedes.connectedClients };
  }

  address(): string {
    return `mqtt://${this.options.host === '0.0.0.0' ? '127.0.0.1' : this.options.host}:${this.port}`;
  }

  /** The port it listens on (useful with port 0). */
  get listeningPort(): number {
    return this.port;
  }

  /** Where devices connect over TLS, when that listener runs. */
  tlsAddress(): string | undefined {
    if (!this.tlsServer || !this.options.tls) return undefined;
    const host = this.options.host === '0.0.0.0' ? '127.0.0.1' : this.options.host;
    return `mqtts://${host}:${portOf(this.tlsServer, this.options.tls.port)}`;
  }

  async close(): Promise<void> {
    const { aedes, server, tlsServer } = this;
    this.aedes = undefined;
    this.server = undefined;
    this.tlsServer = undefined;
    if (aedes) await new Promise<void>((resolve) => aedes.close(() => resolve()));
    for (const s of [server, tlsServer]) {
      if (s?.listening) await new Promise<void>((resolve) => s.close(() => resolve()));
    }
  }
}

function listen<S extends Server>(server: S, port: number, host: string): Promise<S> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

function portOf(server: Server | undefined, fallback: number): number {
  const address = server?.address();
  return typeof address === 'object' && address ? address.port : fallback;
}
