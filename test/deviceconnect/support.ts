// A protocol-exact stand-in for mender-connect, for the error paths the real one cannot be made to take on demand
// (silence, refusals, malformed or oversized frames, a raw 1006 close). The happy paths run against the real
// mender-connect in test/e2e/mender-connect.test.ts.
import { WebSocket } from 'ws';
import { decodeProtoMsg, encodeProtoMsg, type ProtoMsg } from '../../src/deviceconnect/protomsg.js';

export class Inbox {
  readonly messages: ProtoMsg[] = [];
  readonly frames: Uint8Array[] = [];
  private waiters: (() => void)[] = [];

  push(frame: Uint8Array): void {
    this.frames.push(frame);
    this.messages.push(decodeProtoMsg(frame));
    for (const w of this.waiters.splice(0)) w();
  }

  /** Forgets every message not taken yet. */
  clear(): void {
    this.messages.length = 0;
    this.frames.length = 0;
  }

  /** The first message matching `match` not taken yet (removes it). */
  async take(match: (m: ProtoMsg) => boolean = () => true): Promise<{ msg: ProtoMsg; frame: Uint8Array }> {
    for (;;) {
      const i = this.messages.findIndex(match);
      if (i >= 0) {
        const [msg] = this.messages.splice(i, 1);
        const [frame] = this.frames.splice(i, 1);
        return { msg, frame };
      }
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }
}

export interface Peer {
  socket: WebSocket;
  inbox: Inbox;
  closed: Promise<{ code: number; reason: string }>;
  send(msg: ProtoMsg): void;
}

export async function openSocket(url: string, headers: Record<string, string>): Promise<Peer> {
  const socket = new WebSocket(url, { headers });
  const inbox = new Inbox();
  socket.on('message', (data) => inbox.push(data as Buffer));
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  socket.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    socket.once('error', reject);
  });
  return { socket, inbox, closed, send: (msg) => socket.send(encodeProtoMsg(msg)) };
}

/** The status an upgrade is refused with, and its body. */
export async function refusedUpgrade(
  url: string,
  headers: Record<string, string>,
): Promise<{ status: number; body: string }> {
  const socket = new WebSocket(url, { headers });
  socket.on('error', () => undefined);
  return new Promise((resolve, reject) => {
    socket.once('open', () => reject(new Error('the upgrade was accepted')));
    socket.once('unexpected-response', (req, res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      res.on('end', () => {
        req.destroy();
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
  });
}

/** Writes a close frame with code 1006 (illegal on the wire) as mender-client's proxy does when mender-connect dies. */
export function sendRawClose1006(socket: WebSocket): void {
  const raw = (socket as unknown as { _socket: import('node:net').Socket })._socket;
  const mask = Buffer.from([1, 2, 3, 4]);
  const payload = Buffer.from([0x03, 0xee]);
  for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i % 4];
  raw.write(Buffer.concat([Buffer.from([0x88, 0x80 | payload.length]), mask, payload]));
}
