// Device connect across server processes that share one PostgreSQL database: an operator on one process, the
// device's socket on another. Frames travel by PostgreSQL LISTEN/NOTIFY, one channel per process: the database
// every process already shares, so no other service to run, and NOTIFY keeps the order of one sender's messages,
// which a terminal and a file transfer rely on. (NATS would carry larger messages, but would be one more service
// that every multi-process deployment must run.) NOTIFY payloads are text below 8000 bytes, so frames go as base64
// in parts. On SQLite there is one process and no relay.
import { randomUUID } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import pg from 'pg';
import { DEVICE_FRAME_LIMIT, type DeviceChannel, type DeviceLinks, FrameTooLarge, type SessionPeer } from './links.js';
import { decodeProtoMsg, PROTO_CONTROL, type ProtoMsg } from './protomsg.js';

/** Below PostgreSQL's 8000-byte NOTIFY payload limit, with room for the envelope. */
const PART = 6000;
/** Pauses before opening a lost listening connection again: from the first, doubling up to the last. */
const RETRY_FIRST_MS = 100;
const RETRY_MAX_MS = 5000;

type Message =
  | { k: 'to-device'; tenant: string; device: string; from: string; frame: string }
  | { k: 'to-session'; sid: string; frame: string }
  | { k: 'gone'; sid: string }
  | { k: 'part'; id: string; i: number; n: number; data: string };

export class ClusterRelay {
  readonly nodeId = randomUUID();
  /** Sessions of this process whose device is held by another process, by session id. */
  readonly remoteSessions = new Map<string, SessionPeer>();
  private client: pg.Client | undefined;
  private readonly parts = new Map<string, string[]>();

  private log: FastifyBaseLogger | undefined;
  private stopped = false;
  private retry: NodeJS.Timeout | undefined;
  private pause = RETRY_FIRST_MS;

  constructor(
    private readonly databaseUrl: string,
    private readonly links: DeviceLinks,
  ) {}

  private channelOf(nodeId: string): string {
    return `flotilla_dc_${nodeId.replaceAll('-', '')}`;
  }

  async start(log: FastifyBaseLogger): Promise<void> {
    this.log = log;
    this.stopped = false;
    await this.listen();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retry);
    const client = this.client;
    this.client = undefined;
    await client?.end();
  }

  /**
   * Opens the listening connection. A connection that breaks (the database restarted, the backend was terminated, the
   * network blipped) is opened again with a growing pause: without that, every cross-process session of this process
   * would stay silent until a restart. Frames sent while it is down are lost, as on a dropped websocket.
   */
  private async listen(): Promise<void> {
    const client = new pg.Client({ connectionString: this.databaseUrl });
    client.on('error', (error) => {
      this.log?.error({ err: error }, 'deviceconnect relay: connection error');
      this.lost(client);
    });
    client.on('end', () => this.lost(client));
    client.on('notification', (n) => {
      if (n.channel === this.channelOf(this.nodeId) && n.payload) this.receive(n.payload);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${this.channelOf(this.nodeId)}`);
    } catch (error) {
      void client.end().catch(() => undefined);
      throw error;
    }
    if (this.stopped) {
      await client.end();
      return;
    }
    this.client = client;
    this.pause = RETRY_FIRST_MS;
  }

  private lost(client: pg.Client): void {
    if (this.client !== client) return;
    this.client = undefined;
    void client.end().catch(() => undefined);
    if (this.stopped) return;
    this.log?.warn({ retryInMs: this.pause }, 'deviceconnect relay: listening connection lost, opening it again');
    const again = () => {
      this.retry = setTimeout(() => {
        if (this.stopped) return;
        this.listen().catch((error: unknown) => {
          this.log?.error({ err: error }, 'deviceconnect relay: could not listen again');
          this.pause = Math.min(this.pause * 2, RETRY_MAX_MS);
          again();
        });
      }, this.pause);
      this.retry.unref();
    };
    again();
  }

  /** A way to the device held by process `ownerNode`, for a session of this process. */
  remoteLink(tenantId: string, deviceId: string, ownerNode: string): DeviceChannel {
    const relay = this;
    return {
      tenantId,
      deviceId,
      sessions: this.remoteSessions,
      isOpen: true,
      send(frame: Uint8Array) {
        if (frame.length > DEVICE_FRAME_LIMIT) throw new FrameTooLarge(`frame of ${frame.length} bytes`);
        relay.publish(ownerNode, {
          k: 'to-device',
          tenant: tenantId,
          device: deviceId,
          from: relay.nodeId,
          frame: Buffer.from(frame).toString('base64'),
        });
      },
    };
  }

  private publish(nodeId: string, message: Message): void {
    const client = this.client;
    if (!client) {
      this.log?.warn({ kind: message.k }, 'deviceconnect relay: not listening at the moment, message dropped');
      return;
    }
    const payload = JSON.stringify(message);
    const send = (text: string) =>
      client.query('SELECT pg_notify($1, $2)', [this.channelOf(nodeId), text]).catch((error: unknown) => {
        this.log?.error({ err: error }, 'deviceconnect relay: notify failed');
      });
    if (payload.length <= PART) {
      void send(payload);
      return;
    }
    const id = randomUUID();
    const n = Math.ceil(payload.length / PART);
    for (let i = 0; i < n; i++)
      void send(JSON.stringify({ k: 'part', id, i, n, data: payload.slice(i * PART, (i + 1) * PART) }));
  }

  private receive(payload: string): void {
    let message: Message;
    try {
      message = JSON.parse(payload) as Message;
    } catch {
      return;
    }
    if (message.k === 'part') {
      // Parts of one message arrive in order from one sender; a message whose parts never all come (its sender died)
      // must not pile up.
      if (!this.parts.has(message.id) && this.parts.size >= 1000) this.parts.clear();
      const got = this.parts.get(message.id) ?? [];
      got[message.i] = message.data;
      this.parts.set(message.id, got);
      if (got.filter((p) => p !== undefined).length < message.n) return;
      this.parts.delete(message.id);
      this.receive(got.join(''));
      return;
    }
    if (message.k === 'to-device') this.toDevice(message);
    else if (message.k === 'to-session') {
      const frame = Buffer.from(message.frame, 'base64');
      let msg: ProtoMsg;
      try {
        msg = decodeProtoMsg(frame);
      } catch {
        return;
      }
      this.remoteSessions.get(message.sid)?.deliver(msg, frame);
    } else if (message.k === 'gone') {
      this.remoteSessions.get(message.sid)?.deviceGone();
    }
  }

  /** On the process that holds the device: send the frame, and route the device's answers back to the sender. */
  private toDevice(message: Extract<Message, { k: 'to-device' }>): void {
    const frame = Buffer.from(message.frame, 'base64');
    const link = this.links.get(message.tenant, message.device);
    let msg: ProtoMsg;
    try {
      msg = decodeProtoMsg(frame);
    } catch {
      return;
    }
    if (!link) {
      if (msg.sid) this.publish(message.from, { k: 'gone', sid: msg.sid });
      return;
    }
    const sid = msg.sid;
    if (sid && !link.sessions.has(sid)) {
      const relay = this;
      link.sessions.set(sid, {
        deliver(_m: ProtoMsg, raw: Uint8Array) {
          relay.publish(message.from, { k: 'to-session', sid, frame: Buffer.from(raw).toString('base64') });
        },
        deviceGone() {
          relay.publish(message.from, { k: 'gone', sid });
        },
      });
    }
    try {
      link.send(frame);
    } catch (error) {
      this.log?.info({ err: (error as Error).message }, 'deviceconnect relay: could not send to device');
    }
    if (sid && msg.proto === PROTO_CONTROL && msg.typ === 'close') link.sessions.delete(sid);
  }
}
