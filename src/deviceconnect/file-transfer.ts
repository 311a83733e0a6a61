// REST file transfer: the server plays mender-connect's file-transfer session itself (research/deviceconnect.md
// §1.5). Download: stat, then get_file with an int64-offset ack after every 10 chunks (the device runs 20 chunks,
// 80 KiB, ahead of the last ack). Upload: put_file, then 4 KiB chunks with at most 20 unacknowledged, an empty
// chunk for the end, and the device's final ack.
import { PassThrough, type Readable } from 'node:stream';
import { TooLarge } from '../errors.js';
import type { DeviceChannel } from './links.js';
import { encodeValue, Int64, PROTO_FILE } from './protomsg.js';
import { DeviceRefused, ServerSession } from './server-session.js';

const CHUNK = 4096;
const UPLOAD_WINDOW = 20;
const ACK_EVERY = 10;

/** Go's os.FileMode type bits: a regular file has none of them. */
const GO_TYPE_BITS = [31, 27, 26, 25, 24, 21, 19].reduce((mask, bit) => mask | (1n << BigInt(bit)), 0n);
const GO_PERM_BITS = 0o777n | (1n << 23n) | (1n << 22n) | (1n << 20n);

export interface FileInfo {
  path: string;
  size: number;
  uid: number;
  gid: number;
  /** Go FileMode bits, as the device reported them. */
  mode: number;
}

export interface Download {
  info: FileInfo;
  sessionId: string;
  /** The file's bytes (GET); for HEAD, call `close` instead. */
  stream(): Readable;
  close(): void;
}

/** Opens a download: handshake and stat. The caller answers with `info`, then `stream()` or `close()`. */
export async function openDownload(link: DeviceChannel, path: string, idleMs?: number): Promise<Download> {
  const session = new ServerSession(link, idleMs);
  try {
    await session.handshake(PROTO_FILE);
    session.send({ proto: PROTO_FILE, typ: 'stat', body: encodeValue({ path }) });
    const body = ServerSession.check(await session.next(), 'file_info');
    const info: FileInfo = {
      path: String(body.path ?? path),
      size: Number(body.size ?? 0),
      uid: Number(body.uid ?? 0),
      gid: Number(body.gid ?? 0),
      mode: Number(body.mode ?? 0),
    };
    if ((BigInt(info.mode) & GO_TYPE_BITS) !== 0n) throw new DeviceRefused(400, 'path is not a regular file');
    return { info, sessionId: session.sid, stream: () => receive(session, path), close: () => session.close() };
  } catch (error) {
    session.close();
    throw error;
  }
}

/** The permission bits of a Go FileMode in octal, as Mender's X-MEN-File-Mode header carries them. */
export function octalMode(mode: number): string {
  return (BigInt(mode) & GO_PERM_BITS).toString(8);
}

function receive(session: ServerSession, path: string): Readable {
  const out = new PassThrough();
  void (async () => {
    try {
      session.send({ proto: PROTO_FILE, typ: 'get_file', body: encodeValue({ path }) });
      let received = 0;
      let sinceAck = 0;
      for (;;) {
        const msg = await session.next();
        ServerSession.check(msg, 'file_chunk');
        const chunk = msg.body ?? new Uint8Array();
        if (chunk.length === 0) {
          session.send({ proto: PROTO_FILE, typ: 'ack', props: { offset: new Int64(received) } });
          break;
        }
        received += chunk.length;
        if (!out.write(chunk)) await new Promise((resolve) => out.once('drain', resolve));
        if (++sinceAck >= ACK_EVERY) {
          sinceAck = 0;
          session.send({ proto: PROTO_FILE, typ: 'ack', props: { offset: new Int64(received) } });
        }
      }
      out.end();
    } catch (error) {
      // Headers are out: a failure now can only cut the body short.
      out.destroy(error as Error);
    } finally {
      session.close();
    }
  })();
  return out;
}

export interface UploadTarget {
  path: string;
  srcPath: string;
  mode?: number;
  uid?: number;
  gid?: number;
}

/** Streams `file` to the device; resolves with the bytes written once the device acknowledged the end. */
/**
 * Streams `file` to the device; resolves with the bytes written once the device acknowledged the end. When
 * `cutShort()` says the body was truncated (over the size limit), the end is never sent: the device drops its
 * temporary file with the session instead of putting a partial file in place.
 */
export async function upload(
  link: DeviceChannel,
  target: UploadTarget,
  file: AsyncIterable<Buffer>,
  cutShort: () => boolean,
  idleMs?: number,
): Promise<{ size: number; sessionId: string }> {
  const session = new ServerSession(link, idleMs);
  try {
    await session.handshake(PROTO_FILE);
    const request: Record<string, unknown> = { path: target.path, src_path: target.srcPath };
    if (target.mode !== undefined) request.mode = target.mode;
    if (target.uid !== undefined) request.uid = target.uid;
    if (target.gid !== undefined) request.gid = target.gid;
    session.send({ proto: PROTO_FILE, typ: 'put_file', body: encodeValue(request) });
    // The device is ready when it acknowledges offset 0. Its acks then copy the header of the last chunk it wrote,
    // so an ack's offset is where that chunk started.
    ServerSession.check(await session.next(), 'ack');
    let acked = 0;
    let sent = 0;
    const awaitAck = async () => {
      const msg = await session.next();
      ServerSession.check(msg, 'ack');
      const offset = Number(msg.props?.offset ?? acked);
      acked = Math.max(acked, offset);
      return offset;
    };
    for await (const data of file) {
      for (let at = 0; at < data.length; at += CHUNK) {
        const piece = data.subarray(at, at + CHUNK);
        while ((sent - acked) / CHUNK >= UPLOAD_WINDOW) await awaitAck();
        session.send({ proto: PROTO_FILE, typ: 'file_chunk', props: { offset: new Int64(sent) }, body: piece });
        sent += piece.length;
      }
    }
    if (cutShort()) throw new TooLarge('file too large');
    session.send({ proto: PROTO_FILE, typ: 'file_chunk', props: { offset: new Int64(sent) } });
    while ((await awaitAck()) < sent);
    return { size: sent, sessionId: session.sid };
  } finally {
    session.close();
  }
}
