// Writes Mender artifacts (format version 3) for one update-module payload, as the management API's `generate`
// does for the single-file update module. Payload files are read twice from files on disk (once to hash them for
// the manifest, which must come first, once to pack them) and never held in memory whole.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip, gzipSync } from 'node:zlib';
import tar from 'tar-stream';

export interface PayloadSource {
  /** Name inside the payload (a plain file name). */
  name: string;
  /** Path of the file on disk. */
  path: string;
}

export interface ModuleArtifactOptions {
  name: string;
  deviceTypes: string[];
  /** Update module name (type-info `type`). */
  type: string;
  files: PayloadSource[];
  metaData?: Record<string, unknown>;
  /** Extra artifact_provides of the payload; the module's version provide is added as mender-artifact does. */
  provides?: Record<string, string>;
  /**
   * Replaces the payload's default provides and clears (`rootfs-image.<type>.version`, `rootfs-image.<type>.*`),
   * as mender-artifact's `--no-default-software-version --no-default-clears-provides` with explicit ones do.
   */
  ownProvides?: { provides: Record<string, string>; clears: string[] };
  /** Where temporary files go (default: the OS temp folder). */
  workDir?: string;
  /**
   * `none` stores the data tarball uncompressed (`data/0000.tar`, as `mender-artifact --compression none`): for
   * payloads that are compressed already, and so that each payload file is a byte range of the stored artifact.
   */
  compression?: 'gzip' | 'none';
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}

async function packToBuffer(entries: { name: string; body: Buffer }[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c) => {
    chunks.push(c as Buffer);
  });
  const ended = new Promise<void>((resolve) => pack.on('end', () => resolve()));
  for (const e of entries) pack.entry({ name: e.name, mode: 0o600, mtime: new Date(0) }, e.body);
  pack.finalize();
  await ended;
  return Buffer.concat(chunks);
}

/** Adds one file to a tar pack from disk, streaming. */
async function addFile(pack: tar.Pack, name: string, path: string): Promise<void> {
  const { size } = await stat(path);
  await new Promise<void>((resolve, reject) => {
    const entry = pack.entry({ name, size, mode: 0o600, mtime: new Date(0) }, (error) =>
      error ? reject(error) : resolve(),
    );
    pipeline(createReadStream(path), entry as unknown as NodeJS.WritableStream).catch(reject);
  });
}

/** Produces the artifact as a stream; temporary files are removed when it ends or fails. */
export async function writeModuleArtifact(options: ModuleArtifactOptions): Promise<Readable> {
  const work = await mkdtemp(join(options.workDir ?? tmpdir(), 'flotilla-gen-'));
  try {
    const sums = new Map<string, string>();
    for (const f of options.files) sums.set(`data/0000/${f.name}`, await sha256File(f.path));

    // The data tarball goes to disk first: the outer tar needs its size before its bytes.
    const dataName = options.compression === 'none' ? 'data/0000.tar' : 'data/0000.tar.gz';
    const dataPath = join(work, 'data.tar');
    const dataPack = tar.pack();
    const dataWritten =
      options.compression === 'none'
        ? pipeline(dataPack as unknown as NodeJS.ReadableStream, createWriteStream(dataPath))
        : pipeline(dataPack as unknown as NodeJS.ReadableStream, createGzip(), createWriteStream(dataPath));
    for (const f of options.files) await addFile(dataPack, f.name, f.path);
    dataPack.finalize();
    await dataWritten;

    const version = Buffer.from('{"format":"mender","version":3}');
    const headerInfo = {
      payloads: [{ type: options.type }],
      artifact_provides: { artifact_name: options.name },
      artifact_depends: { device_type: options.deviceTypes },
    };
    const typeInfo = options.ownProvides
      ? {
          type: options.type,
          artifact_provides: options.ownProvides.provides,
          clears_artifact_provides: options.ownProvides.clears,
        }
      : {
          type: options.type,
          artifact_provides: { [`rootfs-image.${options.type}.version`]: options.name, ...options.provides },
          clears_artifact_provides: [`rootfs-image.${options.type}.*`],
        };
    const headerEntries = [
      { name: 'header-info', body: Buffer.from(JSON.stringify(headerInfo)) },
      { name: 'headers/0000/type-info', body: Buffer.from(JSON.stringify(typeInfo)) },
    ];
    if (options.metaData)
      headerEntries.push({ name: 'headers/0000/meta-data', body: Buffer.from(JSON.stringify(options.metaData)) });
    const header = gzipSync(await packToBuffer(headerEntries));
    sums.set('header.tar.gz', createHash('sha256').update(header).digest('hex'));
    sums.set('version', createHash('sha256').update(version).digest('hex'));
    const manifest = Buffer.from(
      `${[...sums.entries()]
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([name, sum]) => `${sum}  ${name}`)
        .join('\n')}\n`,
    );

    const outer = tar.pack();
    const out = new PassThrough();
    pipeline(outer as unknown as NodeJS.ReadableStream, out).catch((error) => out.destroy(error));
    const cleanup = () => rm(work, { recursive: true, force: true });
    out.on('close', cleanup);
    (async () => {
      outer.entry({ name: 'version', mode: 0o600, mtime: new Date(0) }, version);
      outer.entry({ name: 'manifest', mode: 0o600, mtime: new Date(0) }, manifest);
      outer.entry({ name: 'header.tar.gz', mode: 0o600, mtime: new Date(0) }, header);
      await addFile(outer, dataName, dataPath);
      outer.finalize();
    })().catch((error) => out.destroy(error));
    return out;
  } catch (error) {
    await rm(work, { recursive: true, force: true });
    throw error;
  }
}
