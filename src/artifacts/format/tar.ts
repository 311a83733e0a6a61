// A streaming reader of tar archives as Go's archive/tar writes them (ustar, with PAX or GNU long-name records when
// needed). Written here rather than taken from tar-stream because the artifact reader needs the exact byte offset of
// every entry's data (payload files are later served by range) and strict control over hostile headers.
import type { ByteReader } from './bytes.js';
import { ArtifactError } from './errors.js';

export type EntryKind = 'file' | 'directory' | 'symlink' | 'hardlink' | 'device' | 'fifo' | 'other';

export interface TarEntry {
  name: string;
  kind: EntryKind;
  size: number;
  mtime: Date;
  /** Offset of the entry's first data byte in the byte source the archive is read from. */
  dataOffset: number;
}

const BLOCK = 512;
/** PAX and GNU long-name records are metadata; anything larger is hostile. */
const MAX_EXTENDED_HEADER = 64 * 1024;

const padding = (size: number) => (BLOCK - (size % BLOCK)) % BLOCK;

function cString(block: Buffer, start: number, length: number): string {
  const field = block.subarray(start, start + length);
  const end = field.indexOf(0);
  return field.subarray(0, end === -1 ? length : end).toString('utf8');
}

function numeric(block: Buffer, start: number, length: number, what: string): number {
  const field = block.subarray(start, start + length);
  if (field[0] & 0x80) {
    // GNU base-256: big-endian, high bit of the first byte set (negative values are refused).
    if (field[0] & 0x40) throw new ArtifactError(`tar header has a negative ${what}`);
    let value = field[0] & 0x3f;
    for (let i = 1; i < length; i++) value = value * 256 + field[i];
    if (!Number.isSafeInteger(value)) throw new ArtifactError(`tar header has a ${what} too large to handle`);
    return value;
  }
  const text = field
    .toString('latin1')
    .replace(/[\0 ]+$/, '')
    .replace(/^ +/, '');
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw new ArtifactError(`tar header has a malformed ${what}`);
  return Number.parseInt(text, 8);
}

function checksumMatches(block: Buffer): boolean {
  const stored = block
    .subarray(148, 156)
    .toString('latin1')
    .replace(/[\0 ]+$/, '')
    .trim();
  if (!/^[0-7]+$/.test(stored)) return false;
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const byte = i >= 148 && i < 156 ? 0x20 : block[i];
    unsigned += byte;
    signed += byte > 127 ? byte - 256 : byte;
  }
  const expected = Number.parseInt(stored, 8);
  return expected === unsigned || expected === signed;
}

function kindOf(flag: string): EntryKind {
  switch (flag) {
    case '0':
    case '\0':
    case '7':
      return 'file';
    case '5':
      return 'directory';
    case '2':
      return 'symlink';
    case '1':
      return 'hardlink';
    case '3':
    case '4':
      return 'device';
    case '6':
      return 'fifo';
    default:
      return 'other';
  }
}

function parsePax(body: Buffer): Map<string, string> {
  const records = new Map<string, string>();
  let at = 0;
  while (at < body.length) {
    const space = body.indexOf(0x20, at);
    if (space === -1) throw new ArtifactError('tar PAX header is malformed');
    const length = Number(body.subarray(at, space).toString('latin1'));
    if (!Number.isInteger(length) || length <= space - at || at + length > body.length)
      throw new ArtifactError('tar PAX header is malformed');
    const record = body.subarray(space + 1, at + length - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (eq === -1) throw new ArtifactError('tar PAX header is malformed');
    records.set(record.slice(0, eq), record.slice(eq + 1));
    at += length;
  }
  return records;
}

export class TarReader {
  private remaining = 0;
  private pad = 0;
  private started = false;

  constructor(
    private readonly bytes: ByteReader,
    private readonly what: string,
  ) {}

  private async extended(size: number, label: string): Promise<Buffer> {
    if (size > MAX_EXTENDED_HEADER) throw new ArtifactError(`${this.what} has an oversized ${label} record`);
    const body = size ? await this.bytes.exact(size) : Buffer.alloc(0);
    if (body === null) throw new ArtifactError(`${this.what} is truncated`);
    await this.bytes.skip(padding(size));
    return body;
  }

  /** The next entry, or null at the end-of-archive marker. Skips whatever is left of the previous entry. */
  async next(): Promise<TarEntry | null> {
    await this.bytes.skip(this.remaining + this.pad);
    this.remaining = 0;
    this.pad = 0;
    let pax = new Map<string, string>();
    let longName: string | undefined;
    for (;;) {
      const block = await this.bytes.exact(BLOCK);
      if (block === null) {
        throw new ArtifactError(
          this.started ? `${this.what} is truncated (no end-of-archive marker)` : `${this.what} is empty`,
        );
      }
      if (block.every((b) => b === 0)) {
        const second = await this.bytes.exact(BLOCK);
        if (second !== null && !second.every((b) => b === 0))
          throw new ArtifactError(`${this.what} has data after an empty tar block`);
        return null;
      }
      if (!checksumMatches(block)) {
        throw new ArtifactError(
          this.started ? `${this.what} has a corrupt tar header` : `${this.what} is not a tar archive`,
        );
      }
      this.started = true;
      const flag = String.fromCharCode(block[156]);
      let size = numeric(block, 124, 12, 'size');
      if (flag === 'x' || flag === 'g') {
        const records = parsePax(await this.extended(size, 'PAX'));
        if (flag === 'x') pax = records;
        continue;
      }
      if (flag === 'L') {
        longName = cString(await this.extended(size, 'long name'), 0, size);
        continue;
      }
      if (flag === 'K') {
        await this.extended(size, 'long link name');
        continue;
      }
      const magic = block.subarray(257, 263).toString('latin1');
      let name = cString(block, 0, 100);
      if (magic === 'ustar\0') {
        const prefix = cString(block, 345, 155);
        if (prefix) name = `${prefix}/${name}`;
      }
      name = pax.get('path') ?? longName ?? name;
      if (pax.has('size')) {
        size = Number(pax.get('size'));
        if (!Number.isSafeInteger(size) || size < 0) throw new ArtifactError(`${this.what} has a malformed PAX size`);
      }
      let seconds = numeric(block, 136, 12, 'mtime');
      if (pax.has('mtime')) {
        const parsed = Number(pax.get('mtime'));
        if (Number.isFinite(parsed)) seconds = parsed;
      }
      this.remaining = size;
      this.pad = padding(size);
      return {
        name,
        kind: kindOf(flag),
        size,
        mtime: new Date(seconds * 1000),
        dataOffset: this.bytes.position,
      };
    }
  }

  /**
   * The current entry's data, chunk by chunk; fails when the archive ends early. Whatever the consumer leaves
   * unread is skipped by the next `next()`.
   */
  async *body(): AsyncGenerator<Buffer> {
    for await (const chunk of this.bytes.take(this.remaining)) {
      this.remaining -= chunk.length;
      yield chunk;
    }
  }
}
