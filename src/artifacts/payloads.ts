// Serves one payload file out of a stored Mender artifact (hawkBit devices download payload files one by one), never
// from a second copy: a file in an uncompressed data tarball is a byte range of the artifact's blob (its offset was
// recorded at upload), read as such, which on S3 is one ranged GET; a file in a compressed tarball is found by
// streaming through the artifact and decompressing on the fly, and nothing but the wanted bytes leave this module.
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { NotFound } from '../errors.js';
import { compressionOf, decompress } from './format/decompress.js';
import type { PayloadLocation } from './parse.js';

const FOUND = Symbol('found');

async function drain(stream: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of stream) {
    // skipped entry
  }
}

/** Walks the artifact; yields FOUND once it reaches the file, then the file's bytes. */
async function* walk(artifact: Readable, index: string, fileName: string): AsyncGenerator<Buffer | typeof FOUND> {
  const outer = tar.extract();
  const feeding = pipeline(artifact, outer).catch(() => undefined);
  try {
    for await (const entry of outer) {
      const compression = compressionOf(entry.header.name, `data/${index}`);
      if (!compression) {
        await drain(entry);
        continue;
      }
      const inner = tar.extract();
      const unpacking = pipeline(
        Readable.from(decompress(entry as AsyncIterable<Uint8Array>, compression)),
        inner,
      ).catch(() => undefined);
      for await (const file of inner) {
        if (file.header.name !== fileName) {
          await drain(file);
          continue;
        }
        yield FOUND;
        for await (const chunk of file) yield chunk as Buffer;
        return;
      }
      await unpacking;
      return;
    }
  } finally {
    outer.destroy();
    artifact.destroy();
    await feeding;
  }
}

export async function extractPayloadFile(artifact: Readable, updateIndex: number, fileName: string): Promise<Readable> {
  const steps = walk(artifact, String(updateIndex).padStart(4, '0'), fileName);
  let first: IteratorResult<Buffer | typeof FOUND>;
  try {
    first = await steps.next();
  } catch {
    first = { done: true, value: undefined };
  }
  if (first.done || first.value !== FOUND)
    throw new NotFound(`payload file ${fileName} not found in update ${updateIndex}`);
  return Readable.from(steps as AsyncGenerator<Buffer>);
}

/** The byte range of the artifact holding bytes `start..end` (inclusive) of a payload file, when one does. */
export function payloadByteRange(
  places: PayloadLocation[] | null,
  updateIndex: number,
  fileName: string,
  start: number,
  end: number,
): { start: number; end: number } | undefined {
  const place = places?.find((p) => p.update === updateIndex && p.name === fileName);
  if (!place || place.offset === null || end >= place.size) return undefined;
  return { start: place.offset + start, end: place.offset + end };
}

/** Bytes start..end (inclusive) of a stream, reading no further than needed. */
export function sliceStream(source: Readable, start: number, end: number): Readable {
  const out = new PassThrough();
  let offset = 0;
  (async () => {
    for await (const chunk of source) {
      const buffer = chunk as Buffer;
      const from = Math.max(start - offset, 0);
      const to = Math.min(end + 1 - offset, buffer.length);
      if (from < to && !out.write(buffer.subarray(from, to))) await new Promise((r) => out.once('drain', r));
      offset += buffer.length;
      if (offset > end) break;
    }
    source.destroy();
    out.end();
  })().catch((error) => out.destroy(error as Error));
  return out;
}
