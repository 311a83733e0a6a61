// ProtoMsg: the msgpack envelope of every device connect message, `{hdr:{proto,typ,sid,props}, body}`.
// Values are read and written with @msgpack/msgpack (well kept, typed, reads the timestamp extension of file_info);
// it picks the smallest integer encoding for a number, but mender-connect type-asserts some props (a file
// transfer `offset` must be msgpack int64, 0xd3), so this module writes explicit widths where the Go peers insist
// (`Int64`, `Uint16`). A relay must not re-type integers at all: `rewriteHeader` splices the header's `sid` and
// `props.user_id` into the original bytes and leaves every other value exactly as the sender encoded it.
import { decode, encode } from '@msgpack/msgpack';

export const PROTO_SHELL = 1;
export const PROTO_FILE = 2;
export const PROTO_PORTFWD = 3;
export const PROTO_MENDER = 4;
export const PROTO_CONTROL = 0xffff;

export interface ProtoMsg {
  proto: number;
  typ?: string;
  sid?: string;
  props?: Record<string, unknown>;
  body?: Uint8Array;
}

/** A number written as msgpack int64 (0xd3), as Go's `int64` fields are. */
export class Int64 {
  constructor(readonly value: number) {}
}
/** A number written as msgpack uint16 (0xcd), as Go's `uint16` fields are. */
export class Uint16 {
  constructor(readonly value: number) {}
}

export class MalformedFrame extends Error {}

/** Decodes one frame; throws MalformedFrame for anything that is not a ProtoMsg. */
export function decodeProtoMsg(frame: Uint8Array): ProtoMsg {
  let value: unknown;
  try {
    value = decode(frame);
  } catch (error) {
    throw new MalformedFrame(`not msgpack: ${(error as Error).message}`);
  }
  if (!isMap(value) || !isMap(value.hdr)) throw new MalformedFrame('not a ProtoMsg: no hdr map');
  const { proto, typ, sid, props } = value.hdr;
  if (typeof proto !== 'number' || !Number.isInteger(proto) || proto < 0 || proto > 0xffff) {
    throw new MalformedFrame('not a ProtoMsg: hdr.proto is not a uint16');
  }
  if (typ !== undefined && typ !== null && typeof typ !== 'string') throw new MalformedFrame('hdr.typ is not a string');
  if (sid !== undefined && sid !== null && typeof sid !== 'string') throw new MalformedFrame('hdr.sid is not a string');
  if (props !== undefined && props !== null && !isMap(props)) throw new MalformedFrame('hdr.props is not a map');
  const body = value.body;
  return {
    proto,
    typ: typ ?? undefined,
    sid: sid ?? undefined,
    props: props ?? undefined,
    // The GUI sends shell input as a str and `stop` with a map body: bytes, text as UTF-8, anything else dropped.
    body: body instanceof Uint8Array ? body : typeof body === 'string' ? Buffer.from(body, 'utf8') : undefined,
  };
}

/** Decodes a body that is itself msgpack (file transfer, port forward and control bodies). */
export function decodeBody(body: Uint8Array | undefined): Record<string, unknown> {
  if (!body || body.length === 0) return {};
  const value = decode(body);
  if (!isMap(value)) throw new MalformedFrame('body is not a map');
  return value;
}

export function encodeProtoMsg(msg: ProtoMsg): Uint8Array {
  const hdr: [string, unknown][] = [['proto', new Uint16(msg.proto)]];
  if (msg.typ) hdr.push(['typ', msg.typ]);
  if (msg.sid) hdr.push(['sid', msg.sid]);
  if (msg.props && Object.keys(msg.props).length > 0) hdr.push(['props', msg.props]);
  const top: [string, unknown][] = [['hdr', Object.fromEntries(hdr)]];
  if (msg.body && msg.body.length > 0) top.push(['body', msg.body]);
  return encodeValue(Object.fromEntries(top));
}

/** Encodes a value with `Int64`/`Uint16` markers honoured at any depth. */
export function encodeValue(value: unknown): Uint8Array {
  const parts: Uint8Array[] = [];
  write(value, parts);
  return Buffer.concat(parts);
}

function write(value: unknown, parts: Uint8Array[]): void {
  if (value instanceof Int64) {
    const b = Buffer.alloc(9);
    b[0] = 0xd3;
    b.writeBigInt64BE(BigInt(value.value), 1);
    parts.push(b);
  } else if (value instanceof Uint16) {
    const b = Buffer.alloc(3);
    b[0] = 0xcd;
    b.writeUInt16BE(value.value, 1);
    parts.push(b);
  } else if (isMap(value)) {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined);
    parts.push(mapHeader(entries.length));
    for (const [k, v] of entries) {
      parts.push(encode(k));
      write(v, parts);
    }
  } else if (Array.isArray(value)) {
    parts.push(arrayHeader(value.length));
    for (const v of value) write(v, parts);
  } else {
    parts.push(encode(value));
  }
}

/**
 * Returns `frame` with `hdr.sid` set to `sid` and, when given, `hdr.props.user_id` set to `userId`; every other
 * byte of the header and body is kept as sent. A map body (the GUI's `stop`) is dropped: Go cannot read it as bytes.
 */
export function rewriteHeader(frame: Uint8Array, sid: string, userId?: string): Uint8Array {
  decodeProtoMsg(frame); // the header's types, checked once, in one place
  const buf = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
  const top = readMap(buf, 0);
  if (top.end !== buf.length) throw new MalformedFrame('trailing bytes after the ProtoMsg');
  const hdrEntry = top.entries.get('hdr');
  if (!hdrEntry) throw new MalformedFrame('not a ProtoMsg: no hdr');
  const hdr = readMap(buf, hdrEntry.start);
  const hdrValues = new Map<string, Uint8Array>();
  for (const [k, e] of hdr.entries) hdrValues.set(k, buf.subarray(e.start, e.end));
  hdrValues.set('sid', encode(sid));
  if (userId !== undefined) {
    const propsValues = new Map<string, Uint8Array>();
    const propsBytes = hdrValues.get('props');
    if (propsBytes && propsBytes[0] !== 0xc0) {
      const props = readMap(buf, hdr.entries.get('props')!.start);
      for (const [k, e] of props.entries) propsValues.set(k, buf.subarray(e.start, e.end));
    }
    propsValues.set('user_id', encode(userId));
    hdrValues.set('props', assembleMap(propsValues));
  }
  const topValues = new Map<string, Uint8Array>();
  for (const [k, e] of top.entries) topValues.set(k, buf.subarray(e.start, e.end));
  topValues.set('hdr', assembleMap(hdrValues));
  const body = topValues.get('body');
  if (body && isMapCode(body[0])) topValues.delete('body');
  return assembleMap(topValues);
}

function assembleMap(values: Map<string, Uint8Array>): Uint8Array {
  const parts: Uint8Array[] = [mapHeader(values.size)];
  for (const [k, v] of values) parts.push(encode(k), v);
  return Buffer.concat(parts);
}

function isMap(value: unknown): value is Record<string, unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    !(value instanceof Uint8Array) &&
    !(value instanceof Date) &&
    !(value instanceof Int64) &&
    !(value instanceof Uint16)
  );
}

function mapHeader(n: number): Uint8Array {
  if (n < 16) return Uint8Array.of(0x80 | n);
  if (n < 0x10000) return Uint8Array.of(0xde, n >> 8, n & 0xff);
  throw new Error('map too large');
}

function arrayHeader(n: number): Uint8Array {
  if (n < 16) return Uint8Array.of(0x90 | n);
  if (n < 0x10000) return Uint8Array.of(0xdc, n >> 8, n & 0xff);
  throw new Error('array too large');
}

const isMapCode = (code: number | undefined) =>
  code !== undefined && ((code & 0xf0) === 0x80 || code === 0xde || code === 0xdf);

interface MapSpan {
  entries: Map<string, { start: number; end: number }>;
  end: number;
}

/** Reads a map with string keys at `pos`: where each value's bytes start and end. */
function readMap(buf: Buffer, pos: number): MapSpan {
  const code = byteAt(buf, pos);
  let count: number;
  let at: number;
  if ((code & 0xf0) === 0x80) [count, at] = [code & 0x0f, pos + 1];
  else if (code === 0xde) [count, at] = [readUint(buf, pos + 1, 2), pos + 3];
  else if (code === 0xdf) [count, at] = [readUint(buf, pos + 1, 4), pos + 5];
  else throw new MalformedFrame('expected a map');
  const entries = new Map<string, { start: number; end: number }>();
  for (let i = 0; i < count; i++) {
    const keyEnd = skip(buf, at);
    const key = decode(buf.subarray(at, keyEnd));
    if (typeof key !== 'string') throw new MalformedFrame('map key is not a string');
    const end = skip(buf, keyEnd);
    entries.set(key, { start: keyEnd, end });
    at = end;
  }
  return { entries, end: at };
}

function byteAt(buf: Buffer, pos: number): number {
  if (pos >= buf.length) throw new MalformedFrame('truncated msgpack');
  return buf[pos];
}

function readUint(buf: Buffer, pos: number, width: 1 | 2 | 4): number {
  if (pos + width > buf.length) throw new MalformedFrame('truncated msgpack');
  return width === 1 ? buf[pos] : width === 2 ? buf.readUInt16BE(pos) : buf.readUInt32BE(pos);
}

/** Deeper than any ProtoMsg nests; a hostile frame must not exhaust the stack. */
const MAX_DEPTH = 32;

/** The position just after the msgpack value at `pos` (the format's length rules; no value is built). */
function skip(buf: Buffer, pos: number, depth = 0): number {
  if (depth > MAX_DEPTH) throw new MalformedFrame('msgpack nested too deeply');
  const code = byteAt(buf, pos);
  const sized = (width: 1 | 2 | 4, extra = 0) => {
    const end = pos + 1 + width + extra + readUint(buf, pos + 1, width);
    if (end > buf.length) throw new MalformedFrame('truncated msgpack');
    return end;
  };
  const items = (count: number, at: number) => {
    let p = at;
    for (let i = 0; i < count; i++) p = skip(buf, p, depth + 1);
    return p;
  };
  if (code <= 0x7f || code >= 0xe0) return pos + 1;
  if ((code & 0xf0) === 0x80) return items((code & 0x0f) * 2, pos + 1);
  if ((code & 0xf0) === 0x90) return items(code & 0x0f, pos + 1);
  if ((code & 0xe0) === 0xa0) {
    const end = pos + 1 + (code & 0x1f);
    if (end > buf.length) throw new MalformedFrame('truncated msgpack');
    return end;
  }
  switch (code) {
    case 0xc0:
    case 0xc2:
    case 0xc3:
      return pos + 1;
    case 0xc4:
    case 0xd9:
      return sized(1);
    case 0xc5:
    case 0xda:
      return sized(2);
    case 0xc6:
    case 0xdb:
      return sized(4);
    case 0xc7:
      return sized(1, 1);
    case 0xc8:
      return sized(2, 1);
    case 0xc9:
      return sized(4, 1);
    case 0xcc:
    case 0xd0:
      return fixed(buf, pos, 1);
    case 0xcd:
    case 0xd1:
      return fixed(buf, pos, 2);
    case 0xca:
    case 0xce:
    case 0xd2:
      return fixed(buf, pos, 4);
    case 0xcb:
    case 0xcf:
    case 0xd3:
      return fixed(buf, pos, 8);
    case 0xd4:
      return fixed(buf, pos, 2);
    case 0xd5:
      return fixed(buf, pos, 3);
    case 0xd6:
      return fixed(buf, pos, 5);
    case 0xd7:
      return fixed(buf, pos, 9);
    case 0xd8:
      return fixed(buf, pos, 17);
    case 0xdc:
      return items(readUint(buf, pos + 1, 2), pos + 3);
    case 0xdd:
      return items(readUint(buf, pos + 1, 4), pos + 5);
    case 0xde:
      return items(readUint(buf, pos + 1, 2) * 2, pos + 3);
    case 0xdf:
      return items(readUint(buf, pos + 1, 4) * 2, pos + 5);
    default:
      throw new MalformedFrame(`invalid msgpack type 0x${code.toString(16)}`);
  }
}

function fixed(buf: Buffer, pos: number, width: number): number {
  const end = pos + 1 + width;
  if (end > buf.length) throw new MalformedFrame('truncated msgpack');
  return end;
}
