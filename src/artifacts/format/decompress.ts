// Decompression of the artifact's compressed parts, chosen by file suffix: none, gzip (.gz, zlib), xz (.xz,
// xz-decompress) and zstd (.zst, fzstd). Every output chunk is reported to `count` before it is used, so a caller's
// cap stops a decompression bomb as soon as it is crossed (for zstd even inside one input chunk).
import { pipeline, Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { Decompress as ZstdDecompress } from 'fzstd';
import xz from 'xz-decompress';
import type { ChunkSource } from './bytes.js';
import { ArtifactError } from './errors.js';

export type Compression = 'none' | 'gzip' | 'xz' | 'zstd';

const SUFFIXES: Record<string, Compression> = { '': 'none', '.gz': 'gzip', '.xz': 'xz', '.zst': 'zstd' };

/** `header.tar.gz` → gzip for base `header`; undefined when the name is not `<base>.tar[.gz|.xz|.zst]`. */
export function compressionOf(name: string, base: string): Compression | undefined {
  if (!name.startsWith(`${base}.tar`)) return undefined;
  return SUFFIXES[name.slice(base.length + 4)];
}

export const suffixOf = (compression: Compression) => Object.entries(SUFFIXES).find(([, c]) => c === compression)![0];

/** zstd decoders allocate the window a frame declares; refuse more than the reference decoder's default. */
const MAX_ZSTD_WINDOW = 128 * 1024 * 1024;

function zstdWindow(head: Buffer): number | undefined {
  if (head.length < 14 || head.readUInt32LE(0) !== 0xfd2fb528) return undefined;
  const descriptor = head[4];
  const singleSegment = (descriptor & 0x20) !== 0;
  if (singleSegment) {
    const dictBytes = [0, 1, 2, 4][descriptor & 3];
    const sizeBytes = [1, 2, 4, 8][descriptor >> 6];
    const at = 5 + dictBytes;
    if (sizeBytes === 8) return Number(head.readBigUInt64LE(at));
    if (sizeBytes === 4) return head.readUInt32LE(at);
    if (sizeBytes === 2) return head.readUInt16LE(at) + 256;
    return head[at];
  }
  const window = head[5];
  const base = 2 ** (10 + (window >> 3));
  return base + (base / 8) * (window & 7);
}

async function* zstd(input: ChunkSource, count: (n: number) => void): AsyncGenerator<Buffer> {
  const out: Buffer[] = [];
  const decoder = new ZstdDecompress((chunk) => {
    count(chunk.length);
    out.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
  });
  let head: Buffer | undefined = Buffer.alloc(0);
  const feed = (chunk: Uint8Array, final: boolean) => {
    try {
      decoder.push(chunk, final);
    } catch (error) {
      if (error instanceof ArtifactError) throw error;
      throw new ArtifactError(`corrupt zstd data: ${(error as Error).message}`);
    }
  };
  for await (const chunk of input) {
    if (head) {
      // Check the first frame's window before the decoder allocates it.
      head = Buffer.concat([head, chunk]);
      if (head.length < 14) continue;
      const window = zstdWindow(head);
      if (window === undefined) throw new ArtifactError('corrupt zstd data: not a zstd frame');
      if (window > MAX_ZSTD_WINDOW) throw new ArtifactError('zstd data declares a window larger than allowed');
      const first = head;
      head = undefined;
      feed(first, false);
    } else feed(chunk, false);
    yield* out.splice(0);
  }
  if (head) {
    if (head.length < 6) throw new ArtifactError('corrupt zstd data: truncated');
    const window = zstdWindow(Buffer.concat([head, Buffer.alloc(14)]));
    if (window === undefined) throw new ArtifactError('corrupt zstd data: not a zstd frame');
    if (window > MAX_ZSTD_WINDOW) throw new ArtifactError('zstd data declares a window larger than allowed');
    feed(head, true);
  } else feed(new Uint8Array(0), true);
  yield* out.splice(0);
}

async function* gzip(input: ChunkSource, count: (n: number) => void): AsyncGenerator<Buffer> {
  const gunzip = createGunzip();
  const source = Readable.from(input, { objectMode: false });
  const output = pipeline(source, gunzip, () => {});
  try {
    for await (const chunk of output) {
      count((chunk as Buffer).length);
      yield chunk as Buffer;
    }
  } catch (error) {
    if (error instanceof ArtifactError) throw error;
    throw new ArtifactError(`corrupt gzip data: ${(error as Error).message}`);
  } finally {
    source.destroy();
    gunzip.destroy();
  }
}

async function* xzData(input: ChunkSource, count: (n: number) => void): AsyncGenerator<Buffer> {
  // Node 20 has ReadableStream.from; its DOM typings do not.
  const web = ReadableStream as unknown as { from(source: ChunkSource): ReadableStream<Uint8Array> };
  const compressed = web.from(input);
  const stream = new xz.XzReadableStream(compressed);
  const reader = stream.getReader();
  try {
    for (;;) {
      let next: ReadableStreamReadResult<Uint8Array>;
      try {
        next = await reader.read();
      } catch (error) {
        if (error instanceof ArtifactError) throw error;
        throw new ArtifactError(`corrupt xz data: ${(error as Error)?.message ?? String(error)}`);
      }
      if (next.done) return;
      count(next.value.length);
      yield Buffer.from(next.value.buffer, next.value.byteOffset, next.value.length);
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
}

/** The decompressed bytes of `input`; errors in the compressed data come out as ArtifactError. */
export function decompress(
  input: ChunkSource,
  compression: Compression,
  count: (n: number) => void = () => {},
): AsyncIterable<Uint8Array> {
  switch (compression) {
    case 'none':
      return input;
    case 'gzip':
      return gzip(input, count);
    case 'xz':
      return xzData(input, count);
    case 'zstd':
      return zstd(input, count);
  }
}
