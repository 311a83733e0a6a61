// The live device sockets of this process and the sessions riding on them. One socket per device: a new one
// replaces the old. Frames from the device go to the session named by their `sid`; frames to the device are
// refused past the device's 8 KiB read limit (mender-connect drops its connection on a larger frame).
// Sessions of another process reach a device held here through cluster.ts.
import type { FastifyBaseLogger } from 'fastify';
import type { WebSocket } from 'ws';
import { decodeProtoMsg, MalformedFrame, type ProtoMsg } from './protomsg.js';

/** mender-connect's read limit per frame (`maxMessageSize` in its connection manager). */
export const DEVICE_FRAME_LIMIT = 8192;

/** Whoever holds a session: an operator's socket, or the server itself (file transfer, commands). */
export interface SessionPeer {
  /** A message from the device for this session; `frame` is the bytes as the device sent them. */
  deliver(msg: ProtoMsg, frame: Uint8Array): void;
  /** The device's socket is gone: the session cannot continue. */
  deviceGone(): void;
}

export class FrameTooLarge extends Error {}

/** What a session needs of the device: this process's socket (DeviceLink) or another process's (cluster.ts). */
export interface DeviceChannel {
  readonly tenantId: string;
  readonly deviceId: string;
  /** Where the device's messages for a session are delivered, by session id. */
  readonly sessions: Map<string, SessionPeer>;
  readonly isOpen: boolean;
  send(frame: Uint8Array): void;
}

export class DeviceLink implements DeviceChannel {
  readonly sessions = new Map<string, SessionPeer>();
  private alive = true;
  private closed = false;
  private readonly pinger: NodeJS.Timeout;

  constructor(
    readonly tenantId: string,
    readonly deviceId: string,
    private readonly socket: WebSocket,
    pingIntervalMs: number,
    private readonly log: FastifyBaseLogger,
    private readonly onClose: (link: DeviceLink) => void,
  ) {
    // The device side never pings (the client's proxy answers mender-connect's pings itself): without ours a dead
    // peer would hold its socket for ever. A socket that sent nothing since the last ping is closed.
    this.pinger = setInterval(() => {
      if (!this.alive) {
        this.log.info({ device: deviceId }, 'deviceconnect: device socket silent for a ping interval, closing');
        socket.terminate();
        return;
      }
      this.alive = false;
      if (socket.readyState === socket.OPEN) socket.ping();
    }, pingIntervalMs);
    this.pinger.unref();
    socket.on('pong', () => {
      this.alive = true;
    });
    socket.on('message', (data, isBinary) => {
      this.alive = true;
      this.receive(toBytes(data), isBinary);
    });
    // The client's proxy forwards mender-connect's death as close code 1006, which is illegal on the wire: `ws`
    // reports it as an error and closes. Without this listener the error would crash the process.
    socket.on('error', (error) => {
      this.log.info({ device: deviceId, err: error.message }, 'deviceconnect: device socket error');
    });
    socket.on('close', () => this.shutdown());
  }

  /** Sends one frame to the device; throws FrameTooLarge past the device's read limit. */
  send(frame: Uint8Array): void {
    if (frame.length > DEVICE_FRAME_LIMIT) throw new FrameTooLarge(`frame of ${frame.length} bytes`);
    if (this.closed) throw new Error('device disconnected');
    this.socket.send(frame, { binary: true });
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  /** Closes this socket because a newer one replaced it (or the server stops). */
  close(code = 1000, reason = ''): void {
    this.socket.close(code, reason);
    this.shutdown();
  }

  private receive(frame: Uint8Array, isBinary: boolean): void {
    let msg: ProtoMsg;
    try {
      if (!isBinary) throw new MalformedFrame('text frame');
      msg = decodeProtoMsg(frame);
    } catch (error) {
      // A bad frame from the device harms nobody else: drop it and keep the socket.
      this.log.warn({ device: this.deviceId, err: (error as Error).message }, 'deviceconnect: bad frame from device');
      return;
    }
    if (!msg.sid) return; // mender client command replies (proto 4) carry no session
    this.sessions.get(msg.sid)?.deliver(msg, frame);
  }

  private shutdown(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.pinger);
    for (const peer of this.sessions.values()) peer.deviceGone();
    this.sessions.clear();
    this.onClose(this);
  }
}

export function toBytes(data: Buffer | ArrayBuffer | Buffer[]): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return data;
}

/** This process's device sockets, by tenant and device. */
export class DeviceLinks {
  private readonly links = new Map<string, DeviceLink>();

  get(tenantId: string, deviceId: string): DeviceLink | undefined {
    const link = this.links.get(`${tenantId}/${deviceId}`);
    return link?.isOpen ? link : undefined;
  }

  /** Registers a new socket, closing the one it replaces. */
  add(link: DeviceLink): void {
    const key = `${link.tenantId}/${link.deviceId}`;
    const previous = this.links.get(key);
    this.links.set(key, link);
    previous?.close(1000, 'replaced by a new connection');
  }

  remove(link: DeviceLink): void {
    const key = `${link.tenantId}/${link.deviceId}`;
    if (this.links.get(key) === link) this.links.delete(key);
  }

  closeAll(): void {
    for (const link of this.links.values()) link.close(1001, 'server shutting down');
    this.links.clear();
  }
}
