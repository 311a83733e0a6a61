// A session the server itself holds on a device (REST file transfer): messages for it queue up until read, a
// control `ping` is answered with `pong` at once (mender-connect closes a session that stays silent for 60 s),
// and a read gives up with 408 after `idleMs` without a message or 409 when the device's socket goes.
import { randomUUID } from 'node:crypto';
import { DomainError } from '../errors.js';
import type { DeviceChannel, SessionPeer } from './links.js';
import { decodeBody, encodeProtoMsg, encodeValue, PROTO_CONTROL, PROTO_FILE, type ProtoMsg } from './protomsg.js';

export class DeviceTimeout extends DomainError {
  constructor(message = 'timeout waiting for the device') {
    super(message, 408);
  }
}
export class DeviceGone extends DomainError {
  constructor(message = 'device disconnected') {
    super(message, 409);
  }
}
export class DeviceRefused extends DomainError {
  constructor(status: number, message: string) {
    super(message, status);
  }
}

export class ServerSession implements SessionPeer {
  readonly sid = randomUUID();
  private readonly inbox: ProtoMsg[] = [];
  private waiter: (() => void) | undefined;
  private gone = false;

  constructor(
    readonly link: DeviceChannel,
    private readonly idleMs = 60_000,
  ) {
    link.sessions.set(this.sid, this);
  }

  deliver(msg: ProtoMsg): void {
    if (msg.proto === PROTO_CONTROL && msg.typ === 'ping') {
      this.send({ proto: PROTO_CONTROL, typ: 'pong' });
      return;
    }
    this.inbox.push(msg);
    this.waiter?.();
  }

  deviceGone(): void {
    this.gone = true;
    this.waiter?.();
  }

  send(msg: Omit<ProtoMsg, 'sid'>): void {
    if (this.gone || !this.link.isOpen) throw new DeviceGone();
    this.link.send(encodeProtoMsg({ ...msg, sid: this.sid }));
  }

  /** The next message from the device. */
  async next(): Promise<ProtoMsg> {
    for (;;) {
      const msg = this.inbox.shift();
      if (msg) return msg;
      if (this.gone) throw new DeviceGone();
      const arrived = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), this.idleMs);
        this.waiter = () => {
          clearTimeout(timer);
          resolve(true);
        };
      });
      this.waiter = undefined;
      if (!arrived) throw new DeviceTimeout();
    }
  }

  /** The open/accept handshake; the device must offer file transfer (502 otherwise, as Mender answers). */
  async handshake(proto: number): Promise<void> {
    this.send({ proto: PROTO_CONTROL, typ: 'open', body: encodeValue({ versions: [1] }) });
    const reply = await this.next();
    const body = safeBody(reply);
    const protocols = Array.isArray(body.protocols) ? body.protocols : [];
    if (reply.proto !== PROTO_CONTROL || reply.typ !== 'accept' || !protocols.includes(proto)) {
      throw new DeviceRefused(502, 'failed to open a session: file transfer disabled or not implemented on device');
    }
  }

  /** Throws the device's own error when `msg` is one (400: what the device refused is the request's fault). */
  static check(msg: ProtoMsg, expected: string): Record<string, unknown> {
    const body = safeBody(msg);
    if (msg.typ === 'error') {
      const code = typeof body.code === 'number' && body.code >= 400 && body.code < 600 ? body.code : 400;
      throw new DeviceRefused(code, String(body.err ?? 'error from device'));
    }
    if (msg.proto !== PROTO_FILE || msg.typ !== expected) {
      throw new DeviceRefused(502, `unexpected message from device: ${msg.proto}/${msg.typ}`);
    }
    return body;
  }

  close(): void {
    this.link.sessions.delete(this.sid);
    if (!this.gone && this.link.isOpen) {
      try {
        this.link.send(encodeProtoMsg({ proto: PROTO_CONTROL, typ: 'close', sid: this.sid }));
      } catch {
        // the device went away meanwhile: nothing to close
      }
    }
  }
}

function safeBody(msg: ProtoMsg): Record<string, unknown> {
  try {
    return decodeBody(msg.body);
  } catch {
    return {};
  }
}
