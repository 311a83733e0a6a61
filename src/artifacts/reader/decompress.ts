// Decompression streams for the compressions a Mender artifact may use, chosen by file suffix: none, gzip (zlib),
// xz (xz-decompress, WASM) and zstd (fzstd, pure JS). Each caps its output so that a bomb fails early.
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { Decompress as ZstdDecompress } from 'fzstd';
import xz from 'xz-decompress';
import { ArtifactError } from './errors.js';

export type Compression = 'none' | 'gzip' | 'xz' | 'zstd';

export function compressionOf(name: string, base: string): Compression | undefined {
  if (name === `${base}.tar`) return 'none';
  if (name === `${base}.tar.gz`) return 'gzip';
  if (name === `${base}.tar.xz`) return 'xz';
  if (name === `${base}.tar.zst`) return 'zstd';
  return undefined;
}

/** Fails the stream once more than `max` bytes came out of it. */
export function capped(max: number, what: string): Transform {
  let total = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done: TransformCallback) {
      total += chunk.length;
      if (total > max) return done(new ArtifactError(`${what} is larger than allowed (${max} bytes)`));
      done(null, chunk);
    },
  });
}

class ZstdStream extends Transform {
  private readonly zstd: ZstdDecompress;
  constructor() {
    super();
    this.zstd = new ZstdDecompress((chunk) => {
      this.push(Buffer.from(chunk));
    });
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback) {
    try {
      this.zstd.push(chunk);
      done();
    } catch (error) {
      done(new ArtifactError(`corrupt zstd data: ${(error as Error).message}`));
    }
  }
  override _flush(done: TransformCallback) {
    try {
      this.zstd.push(new Uint8Array(0), true);
      done();
    } catch (error) {
      done(new ArtifactError(`corrupt zstd data: ${(error as Error).message}`));
    }
  }
}

/** Pipes `input` through the decompressor for `compression`; errors come out as ArtifactError. */
export function decompress(input: Readable, compression: Compression): Readable {
  switch (compression) {
    case 'none':
      return input;
    case 'gzip': {
      const gunzip = createGunzip();
      input.on('error', (e) => gunzip.destroy(e));
      return input.pipe(gunzip);
    }
    case 'zstd': {
      const z = new ZstdStream();
      input.on('error', (e) => z.destroy(e));
      return input.pipe(z);
    }
    case 'xz': {
      const web = Readable.toWeb(input) as unknown as ReadableStream<Uint8Array>;
      return Readable.fromWeb(new xz.XzReadableStream(web) as never);
    }
  }
}
