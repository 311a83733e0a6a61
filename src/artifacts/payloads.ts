// Serves one payload file out of a stored Mender artifact (hawkBit devices download payload files one by one),
// by streaming through the artifact and its data tarball until that file, decompressing on the fly: the artifact
// is never unpacked to disk a second time, and nothing but the wanted file's bytes leave this function.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { NotFound } from '../errors.js';
import { compressionOf, decompress } from './format/decompress.js';

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
