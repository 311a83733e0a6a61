// Streaming reader of Mender artifacts, format versions 2 and 3. It walks the outer tar in the order the format
// fixes (version, manifest, manifest.sig, manifest-augment, header, header-augment, data/NNNN), keeps only the small
// metadata parts in memory (each capped), and hashes payload files as they flow past, checking every checksum against
// the manifest. Payload bytes are discarded, or handed to a sink. Version 1 (pre-2017, unsigned, no manifest) is
// refused: mender-artifact 3 cannot write it and Mender clients since 2.0 cannot install it.
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { ByteReader } from './bytes.js';
import { type Compression, compressionOf, decompress } from './decompress.js';
import { ArtifactError } from './errors.js';
import { type Header, readHeader } from './header.js';
import { isObject, type JsonObject, mergeAugment, parseJson, stringMap } from './json.js';
import { ChecksumStore, safePath } from './manifest.js';
import { parseVerifyKeys, verifyManifest } from './signature.js';
import { type TarEntry, TarReader } from './tar.js';
import type { ArtifactInfo, PayloadFile, ReadOptions, UpdateInfo } from './types.js';

export { ArtifactError } from './errors.js';
export type * from './types.js';

const MiB = 1024 * 1024;
/** Go's archive/tar writes no record padding, GNU tar pads to 10 KiB; anything beyond this is not padding. */
const MAX_TRAILING = MiB;
/** The characters mender-artifact allows in payload file names. */
const PAYLOAD_NAME = /^[\w\-.,]+$/;

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const pad4 = (n: number) => String(n).padStart(4, '0');

interface Limits {
  header: number;
  headerDecompressed: number;
  payload: number;
  ratio: number;
}

class ArtifactWalk {
  private readonly tar: TarReader;
  private readonly store = new ChecksumStore();
  private payloadBytes = 0;

  constructor(
    private readonly bytes: ByteReader,
    private readonly limits: Limits,
    private readonly options: ReadOptions,
  ) {
    this.tar = new TarReader(bytes, 'artifact');
  }

  private async entry(expected: string): Promise<TarEntry> {
    const entry = await this.tar.next();
    if (!entry) throw new ArtifactError(`artifact ends before ${expected}`);
    safePath(entry.name, 'artifact entry');
    if (entry.kind !== 'file') throw new ArtifactError(`artifact entry ${entry.name} is a ${entry.kind}, not a file`);
    return entry;
  }

  /** A metadata part, refused from its tar header alone when it claims too many bytes. */
  private async small(entry: TarEntry): Promise<Buffer> {
    if (entry.size > this.limits.header)
      throw new ArtifactError(`${entry.name} is ${entry.size} bytes, more than the ${this.limits.header} allowed`);
    const parts: Buffer[] = [];
    for await (const chunk of this.tar.body()) parts.push(chunk);
    return Buffer.concat(parts);
  }

  async read(): Promise<ArtifactInfo> {
    const keys = parseVerifyKeys(this.options.verifyKeys ?? []);
    const first = await this.tar.next();
    if (first?.name !== 'version' || first.kind !== 'file')
      throw new ArtifactError(
        `not a Mender artifact: the first entry must be "version"${first ? `, not ${JSON.stringify(first.name)}` : ''}`,
      );
    const versionBytes = await this.small(first);
    const versionInfo = parseJson(versionBytes, 'version');
    if (!isObject(versionInfo) || versionInfo.format !== 'mender')
      throw new ArtifactError('not a Mender artifact: version.format is not "mender"');
    const version = versionInfo.version;
    if (version !== 2 && version !== 3) {
      throw new ArtifactError(
        version === 1
          ? 'format version 1 is not supported (no manifest, no signature; Mender clients since 2.0 refuse it)'
          : `unsupported format version ${JSON.stringify(version)}`,
      );
    }

    let entry = await this.entry('manifest');
    if (entry.name !== 'manifest') throw new ArtifactError(`expected manifest after version, found ${entry.name}`);
    const manifest = await this.small(entry);
    this.store.add(manifest, false);
    this.store.verify('version', sha256(versionBytes), { signedOnly: true });

    entry = await this.entry('the header');
    let signed = false;
    let verified = false;
    if (entry.name === 'manifest.sig') {
      signed = true;
      const signature = await this.small(entry);
      if (keys.length) {
        if (verifyManifest(manifest, signature, keys) === -1)
          throw new ArtifactError('signature verification failed: no configured key verifies manifest.sig');
        verified = true;
      }
      entry = await this.entry('the header');
    } else if (keys.length) throw new ArtifactError('artifact is not signed, but a signature is required');

    let augmented = false;
    if (version === 3 && entry.name === 'manifest-augment') {
      augmented = true;
      this.store.add(await this.small(entry), true);
      entry = await this.entry('the header');
    }

    const headerCompression = compressionOf(entry.name, 'header');
    if (!headerCompression) throw new ArtifactError(`expected header.tar[.gz|.xz|.zst], found ${entry.name}`);
    const headerBytes = await this.small(entry);
    this.store.verify(entry.name, sha256(headerBytes), { signedOnly: true });
    const header = await readHeader(headerBytes, headerCompression, {
      version,
      augment: false,
      maxDecompressed: this.limits.headerDecompressed,
      what: entry.name,
    });
    const count = header.info.payloadTypes.length;

    let augmentHeader: Header | undefined;
    if (augmented) {
      entry = await this.entry('header-augment');
      const compression = compressionOf(entry.name, 'header-augment');
      if (!compression) throw new ArtifactError(`expected header-augment.tar[.gz|.xz|.zst], found ${entry.name}`);
      const bytes = await this.small(entry);
      this.store.verify(entry.name, sha256(bytes));
      augmentHeader = await readHeader(bytes, compression, {
        version: 3,
        augment: true,
        maxDecompressed: this.limits.headerDecompressed,
        what: entry.name,
      });
      if (augmentHeader.info.payloadTypes.length > count)
        throw new ArtifactError('header-augment lists more payloads than the header');
    }

    const updates: UpdateInfo[] = [];
    for (let index = 0; index < count; index++) {
      const expected = `data/${pad4(index)}`;
      entry = await this.entry(`${expected}.tar`);
      const compression = compressionOf(entry.name, expected);
      if (!compression) throw new ArtifactError(`expected ${expected}.tar[.gz|.xz|.zst], found ${entry.name}`);
      const files = await this.readPayload(entry, index, compression, header);
      updates.push(describeUpdate(index, compression, files, header, augmentHeader));
    }

    const extra = await this.tar.next();
    if (extra) throw new ArtifactError(`unexpected entry ${extra.name} after the last payload`);
    const trailing = await this.bytes.rest(MAX_TRAILING);
    if (!trailing.zero) throw new ArtifactError('artifact has data after its end');
    const missing = this.store.missing();
    if (missing.length) throw new ArtifactError(`the manifest lists ${missing.join(', ')}, which the artifact lacks`);

    return {
      format: 'mender',
      version,
      name: header.info.name,
      deviceTypes: header.info.deviceTypes,
      provides: header.info.provides,
      depends: header.info.depends,
      combined: combine(header, updates),
      scripts: header.scripts,
      updates,
      signed,
      verified,
      augmented,
      headerCompression,
      size: this.bytes.position,
    };
  }

  private count(compressedSize: number, compression: Compression, what: string): (n: number) => void {
    let produced = 0;
    const cap = compression === 'none' ? Number.POSITIVE_INFINITY : Math.max(compressedSize * this.limits.ratio, MiB);
    return (n: number) => {
      produced += n;
      this.payloadBytes += n;
      if (produced > cap)
        throw new ArtifactError(`${what} expands more than ${this.limits.ratio} times (a decompression bomb?)`);
      if (this.payloadBytes > this.limits.payload)
        throw new ArtifactError(`payloads are larger than the ${this.limits.payload} bytes allowed`);
    };
  }

  private async readPayload(
    outer: TarEntry,
    index: number,
    compression: Compression,
    header: Header,
  ): Promise<PayloadFile[]> {
    const what = outer.name;
    const count = this.count(outer.size, compression, what);
    const body = this.tar.body();
    const source = compression === 'none' ? counted(body, count) : decompress(body, compression, count);
    const bytes = new ByteReader(source, what);
    const tar = new TarReader(bytes, what);
    const files: PayloadFile[] = [];
    const listed = header.updates[index].fileNames;
    try {
      for (let file = await tar.next(); file; file = await tar.next()) {
        if (file.kind !== 'file') throw new ArtifactError(`${what} entry ${file.name} is a ${file.kind}, not a file`);
        if (!PAYLOAD_NAME.test(file.name))
          throw new ArtifactError(
            `${what} has a file named ${JSON.stringify(file.name)}; only letters, digits and .,_- are allowed`,
          );
        const name = `data/${pad4(index)}/${file.name}`;
        if (!this.store.has(name)) throw new ArtifactError(`${name} is not listed in the manifest`);
        if (listed && !listed.includes(file.name))
          throw new ArtifactError(`${name} is not listed in headers/${pad4(index)}/files`);
        const checksum = await this.stream(tar, index, file, name);
        files.push({
          name: file.name,
          size: file.size,
          checksum,
          date: file.mtime.toISOString(),
          augment: this.store.isAugment(name),
          offset: compression === 'none' ? outer.dataOffset + file.dataOffset : null,
        });
      }
      await bytes.rest(MAX_TRAILING);
    } finally {
      await bytes.close();
    }
    return files;
  }

  /** Hashes one payload file while it flows (to the sink, if any); returns its verified checksum. */
  private async stream(tar: TarReader, update: number, file: TarEntry, name: string): Promise<string> {
    const sink = this.options.payloadSink?.({ update, name: file.name, size: file.size });
    const hash = createHash('sha256');
    try {
      for await (const chunk of tar.body()) {
        hash.update(chunk);
        if (sink) await sink.write(chunk);
      }
      const checksum = hash.digest('hex');
      this.store.verify(name, checksum);
      if (sink) await sink.end();
      return checksum;
    } catch (error) {
      if (sink?.abort) await sink.abort(error as Error);
      throw error;
    }
  }
}

async function* counted(source: AsyncIterable<Buffer>, count: (n: number) => void): AsyncGenerator<Buffer> {
  for await (const chunk of source) {
    count(chunk.length);
    yield chunk;
  }
}

function describeUpdate(
  index: number,
  compression: Compression,
  files: PayloadFile[],
  header: Header,
  augment: Header | undefined,
): UpdateInfo {
  const original = header.updates[index];
  const extra = augment?.updates[index];
  const what = `update ${index}`;
  const typeInfo = original.typeInfo;
  const augmentInfo = extra?.typeInfo;
  const merge = (a: JsonObject | undefined, b: JsonObject | undefined, field: string) =>
    mergeAugment(a ?? {}, b ?? {}, `${what} ${field}`);
  const metaData =
    original.metaData || extra?.metaData
      ? merge(original.metaData ?? undefined, extra?.metaData ?? undefined, 'meta-data')
      : null;
  return {
    index,
    type: augment?.info.payloadTypes[index] ?? header.info.payloadTypes[index] ?? typeInfo?.type ?? null,
    compression,
    metaData,
    provides: stringMap(
      merge(typeInfo?.provides, augmentInfo?.provides, 'artifact_provides'),
      `${what} artifact_provides`,
    ),
    depends: merge(typeInfo?.depends, augmentInfo?.depends, 'artifact_depends') as Record<string, string | string[]>,
    clearsProvides: augmentInfo?.clearsProvides ?? typeInfo?.clearsProvides ?? [],
    files,
  };
}

function combine(header: Header, updates: UpdateInfo[]): ArtifactInfo['combined'] {
  const provides = { ...header.info.provides };
  const depends: Record<string, string[]> = { ...header.info.depends };
  const clears: string[] = [];
  for (const update of updates) {
    Object.assign(provides, update.provides);
    for (const [key, value] of Object.entries(update.depends)) depends[key] = Array.isArray(value) ? value : [value];
    for (const pattern of update.clearsProvides) if (!clears.includes(pattern)) clears.push(pattern);
  }
  return { provides, depends, clearsProvides: clears };
}

/**
 * Reads a whole artifact from `stream` and describes it, or fails with an ArtifactError. The stream is consumed to
 * its end on success and destroyed on failure; errors of the stream itself come out unchanged.
 */
export async function readArtifact(stream: Readable, options: ReadOptions = {}): Promise<ArtifactInfo> {
  const bytes = new ByteReader(stream, 'artifact');
  const limits: Limits = {
    header: options.maxHeaderBytes ?? MiB,
    headerDecompressed: options.maxHeaderDecompressedBytes ?? 8 * MiB,
    payload: options.maxPayloadBytes ?? 64 * 1024 * MiB,
    ratio: options.maxCompressionRatio ?? 1100,
  };
  try {
    return await new ArtifactWalk(bytes, limits, options).read();
  } finally {
    await bytes.close();
  }
}
