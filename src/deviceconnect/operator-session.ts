// One operator's websocket (GUI or mender-cli) relayed to one device: the server names the session, stamps every
// message with that session id and the operator's user id, enforces the tenant's switches and the byte limit,
// and writes terminal opens and closes to the event record. Integers are never re-typed (see protomsg.ts).
import type { FastifyBaseLogger } from 'fastify';
import type { WebSocket } from 'ws';
import { DEVICE_FRAME_LIMIT, type DeviceChannel, type SessionPeer, toBytes } from './links.js';
import {
  decodeBody,
  decodeProtoMsg,
  encodeProtoMsg,
  encodeValue,
  MalformedFrame,
  PROTO_CONTROL,
  PROTO_FILE,
  PROTO_MENDER,
  PROTO_PORTFWD,
  PROTO_SHELL,
  type ProtoMsg,
  rewriteHeader,
} from './protomsg.js';
import { Recorder } from './recorder.js';
import type { ConnectFeature, ConnectService, ConnectSettings } from './service.js';

/** Mender cuts a session at 8 MiB of device output. */
export const SESSION_BYTE_LIMIT = 8 * 1024 * 1024;
/** Shell input larger than this is split into several `shell` messages (the device reads at most 8 KiB a frame). */
const SHELL_CHUNK = 4096;

const FEATURE_OF: Record<number, ConnectFeature | undefined> = {
  [PROTO_SHELL]: 'terminal',
  [PROTO_FILE]: 'file_transfer',
  [PROTO_PORTFWD]: 'port_forward',
};

export interface OperatorSessionOptions {
  link: DeviceChannel;
  socket: WebSocket;
  sessionId: string;
  userId: string;
  settings: ConnectSettings;
  connect: ConnectService;
  log: FastifyBaseLogger;
  byteLimit?: number;
}

export class OperatorSession implements SessionPeer {
  private shellOpen = false;
  private deviceBytes = 0;
  private ended = false;
  private readonly recorder: Recorder;

  constructor(private readonly o: OperatorSessionOptions) {
    this.recorder = new Recorder(o.connect, o.link.tenantId, o.sessionId, o.log);
  }

  start(): void {
    const { link, socket, sessionId } = this.o;
    link.sessions.set(sessionId, this);
    socket.on('message', (data, isBinary) => this.fromOperator(toBytes(data), isBinary));
    socket.on('error', (error) => this.o.log.info({ err: error.message }, 'deviceconnect: operator socket error'));
    socket.on('close', () => this.end('user disconnected'));
  }

  deliver(msg: ProtoMsg, frame: Uint8Array): void {
    if (this.ended) return;
    if (msg.proto === PROTO_SHELL && msg.typ === 'shell') {
      this.deviceBytes += msg.body?.length ?? 0;
      if (msg.body && this.deviceBytes <= (this.o.byteLimit ?? SESSION_BYTE_LIMIT)) this.recorder.output(msg.body);
      if (this.deviceBytes > (this.o.byteLimit ?? SESSION_BYTE_LIMIT)) {
        this.toDevice(this.stopShell('session byte limit exceeded'));
        this.closedTerminal();
        this.o.socket.close(1008, 'session byte limit exhausted');
        return;
      }
    }
    if (msg.proto === PROTO_SHELL && msg.typ === 'stop') this.closedTerminal();
    this.o.socket.send(frame, { binary: true });
  }

  deviceGone(): void {
    if (this.ended) return;
    this.closedTerminal();
    this.ended = true;
    this.o.socket.close(1001, 'device disconnected');
  }

  private fromOperator(frame: Uint8Array, isBinary: boolean): void {
    if (this.ended) return;
    let msg: ProtoMsg;
    let rewritten: Uint8Array;
    try {
      if (!isBinary) throw new MalformedFrame('text frame');
      msg = decodeProtoMsg(frame);
      rewritten = rewriteHeader(frame, this.o.sessionId, this.o.userId);
    } catch (error) {
      // A malformed frame ends this operator's session only; the device and other sessions carry on.
      this.o.log.info({ err: (error as Error).message }, 'deviceconnect: malformed frame from operator');
      this.o.socket.close(1007, 'malformed ProtoMsg');
      this.end('malformed message');
      return;
    }
    const feature = FEATURE_OF[msg.proto];
    if (msg.proto === PROTO_MENDER || (feature && !this.o.settings[feature])) {
      this.sendError(msg, feature ? `${feature.replace('_', ' ')} is disabled for this tenant` : 'not allowed here');
      return;
    }
    if (msg.proto !== PROTO_CONTROL && !feature) {
      this.sendError(msg, `unknown protocol ${msg.proto}`);
      return;
    }
    if (msg.proto === PROTO_SHELL && msg.typ === 'new' && !this.shellOpen) {
      this.shellOpen = true;
      this.event('open_terminal');
    }
    if (msg.proto === PROTO_SHELL && msg.typ === 'stop') this.closedTerminal();
    if (msg.proto === PROTO_PORTFWD && msg.typ === 'new') {
      const target = decodeBodySafely(msg.body);
      this.event('port_forward', {
        connection_id: msg.props?.connection_id,
        remote_host: target.remote_host,
        remote_port: target.remote_port,
        protocol: target.protocol,
      });
    }
    if (rewritten.length <= DEVICE_FRAME_LIMIT) {
      this.toDevice(rewritten);
    } else if (msg.proto === PROTO_SHELL && msg.typ === 'shell' && msg.body) {
      // A large paste arrives as one message: the device gets it in pieces it can read.
      for (let at = 0; at < msg.body.length; at += SHELL_CHUNK) {
        const piece = msg.body.subarray(at, at + SHELL_CHUNK);
        this.toDevice(
          encodeProtoMsg({
            proto: PROTO_SHELL,
            typ: 'shell',
            sid: this.o.sessionId,
            props: { user_id: this.o.userId },
            body: piece,
          }),
        );
      }
    } else {
      this.sendError(
        msg,
        `message of ${rewritten.length} bytes is larger than the device accepts (${DEVICE_FRAME_LIMIT})`,
      );
    }
  }

  private toDevice(frame: Uint8Array): void {
    try {
      this.o.link.send(frame);
    } catch (error) {
      this.o.log.info({ err: (error as Error).message }, 'deviceconnect: could not send to device');
    }
  }

  private stopShell(reason: string): Uint8Array {
    return encodeProtoMsg({
      proto: PROTO_SHELL,
      typ: 'stop',
      sid: this.o.sessionId,
      props: { user_id: this.o.userId, status: 2 },
      body: Buffer.from(reason),
    });
  }

  private sendError(msg: ProtoMsg, err: string): void {
    const body = encodeValue({ err, close: false, msgproto: msg.proto, msgtype: msg.typ ?? '' });
    this.o.socket.send(encodeProtoMsg({ proto: PROTO_CONTROL, typ: 'error', sid: this.o.sessionId, body }), {
      binary: true,
    });
  }

  private closedTerminal(): void {
    if (!this.shellOpen) return;
    this.shellOpen = false;
    // The recording is complete before the close is on record: whoever sees the close can play it back.
    void this.recorder.end().then(() => this.event('close_terminal'));
  }

  private event(action: 'open_terminal' | 'close_terminal' | 'port_forward', detail?: Record<string, unknown>): void {
    const { link, userId, sessionId } = this.o;
    this.o.connect
      .record({ tenantId: link.tenantId, actorId: userId, deviceId: link.deviceId, action, sessionId, detail })
      .catch((error: unknown) => this.o.log.error({ err: error }, 'deviceconnect: could not record event'));
  }

  /** The operator is gone: stop the shell on the device and end the session there. */
  private end(reason: string): void {
    if (this.ended) return;
    this.ended = true;
    if (this.shellOpen) {
      this.toDevice(this.stopShell(reason));
      this.closedTerminal();
    }
    this.toDevice(encodeProtoMsg({ proto: PROTO_CONTROL, typ: 'close', sid: this.o.sessionId }));
    this.o.link.sessions.delete(this.o.sessionId);
  }
}

function decodeBodySafely(body: Uint8Array | undefined): Record<string, unknown> {
  try {
    return decodeBody(body);
  } catch {
    return {};
  }
}
