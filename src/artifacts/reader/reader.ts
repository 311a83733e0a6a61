// A streaming reader of Mender artifacts (format versions 2 and 3). It reads the outer tar entry by entry in the
// order the format fixes, keeps only the small metadata parts in memory (each capped), hashes payload files as
// they flow past and checks every checksum against the manifest. Nothing is written anywhere: the caller tees
// the same bytes into storage and keeps them only if this reader accepts the artifact.
import { createHash, createPublicKey, type KeyObject, verify } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { capped, compressionOf, decompress } from './decompress.js';
import { ArtifactError } from './errors.js';

export interface PayloadFile {
  name: string;
  size: number;
  checksum: string;
}

export interface Payload {
  type: string | null;
  files: PayloadFile[];
  metaData: unknown;
  provides: Record<string, string>;
  depends: Record<string, unknown>;
  clearsProvides: string[];
}

export interface ArtifactInfo {
  format: 'mender';
  version: number;
  name: string;
  deviceTypes: string[];
  /** Artifact-level provides (artifact_name, artifact_group) merged with each payload's provides. */
  provides: Record<string, string>;
  depends: Record<string, string[]>;
  clearsProvides: string[];
  payloads: Payload[];
  signed: boolean;
  /** Whether a configured key verified the signature (undefined when no keys were given). */
  verified?: boolean;
}

export interface ReadOptions {
  /** PEM public keys; when given, the artifact must be signed by one of them. */
  verifyKeys?: string[];
  /** Cap on each metadata part (version, manifest, signature, header), compressed and decompressed. */
  maxHeaderBytes?: number;
  /** Cap on the decompressed bytes of all payload files together. */
  maxPayloadBytes?: number;
}

const SMALL = 64 * 1024;

type ByteSource = AsyncIterable<unknown> & { destroy(error?: Error): void };

async function collect(stream: ByteSource, max: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    total += (chunk as Buffer).length;
    if (total > max) {
      stream.destroy();
      throw new ArtifactError(`${what} is larger than allowed (${max} bytes)`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function json<T>(bytes: Buffer, what: string): T {
  try {
    return JSON.parse(bytes.toString('utf8')) as T;
  } catch {
    throw new ArtifactError(`${what} is not valid JSON`);
  }
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

function safeName(name: string): string {
  if (!name || name.startsWith('/') || name.split('/').some((p) => p === '..' || p === '') || name.includes('\0')) {
    throw new ArtifactError(`unsafe entry name ${JSON.stringify(name)}`);
  }
  return name;
}

function parseManifest(bytes: Buffer): Map<string, string> {
  const sums = new Map<string, string>();
  for (const line of bytes.toString('utf8').split('\n')) {
    if (line.trim() === '') continue;
    const match = /^([0-9a-f]{64}) {2}(\S+)$/.exec(line);
    if (!match) throw new ArtifactError('manifest has a malformed line');
    const name = safeName(match[2]);
    if (sums.has(name)) throw new ArtifactError(`manifest lists ${name} twice`);
    sums.set(name, match[1]);
  }
  return sums;
}

function verifyManifest(manifest: Buffer, signatureB64: Buffer, keys: KeyObject[]): boolean {
  const signature = Buffer.from(signatureB64.toString('utf8').trim(), 'base64');
  for (const key of keys) {
    try {
      if (key.asymmetricKeyType === 'rsa' && verify('sha256', manifest, key, signature)) return true;
      if (key.asymmetricKeyType === 'ec') {
        // mender-artifact writes ECDSA signatures as raw r||s; accept DER as well.
        if (verify('sha256', manifest, { key, dsaEncoding: 'ieee-p1363' }, signature)) return true;
        if (verify('sha256', manifest, { key, dsaEncoding: 'der' }, signature)) return true;
      }
      if (key.asymmetricKeyType === 'ed25519' && verify(null, manifest, key, signature)) return true;
    } catch {
      // A signature of the wrong shape for this key: try the next key.
    }
  }
  return false;
}

interface HeaderInfo {
  payloads: { type: string | null }[];
  name: string;
  deviceTypes: string[];
  provides: Record<string, string>;
  depends: Record<string, string[]>;
  typeInfo: Record<string, unknown>[];
  metaData: unknown[];
}

async function readHeader(
  bytes: Buffer,
  compression: ReturnType<typeof compressionOf>,
  version: number,
  max: number,
): Promise<HeaderInfo> {
  const extract = tar.extract();
  const feed = pipeline(decompress(Readable.from([bytes]), compression!), capped(max, 'header'), extract);
  let info: Record<string, unknown> | undefined;
  const typeInfo: Record<string, unknown>[] = [];
  const metaData: unknown[] = [];
  const consume = (async () => {
    for await (const entry of extract) {
      const name = safeName(entry.header.name);
      if (entry.header.type !== 'file') throw new ArtifactError(`header entry ${name} is not a regular file`);
      const body = await collect(entry, max, `header entry ${name}`);
      const per = /^headers\/(\d{4})\/(type-info|meta-data|files|checksums\/.*|signatures\/.*)$/.exec(name);
      if (name === 'header-info') info = json(body, 'header-info');
      else if (per) {
        const index = Number(per[1]);
        if (per[2] === 'type-info') typeInfo[index] = json(body, name);
        else if (per[2] === 'meta-data') metaData[index] = body.length ? json(body, name) : null;
      } else if (!name.startsWith('scripts/')) throw new ArtifactError(`unexpected header entry ${name}`);
    }
  })();
  try {
    await Promise.all([feed, consume]);
  } catch (error) {
    throw error instanceof ArtifactError ? error : new ArtifactError(`corrupt header: ${(error as Error).message}`);
  }
  if (!info) throw new ArtifactError('header has no header-info');
  const list = (v: unknown) =>
    Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : typeof v === 'string' ? [v] : [];
  if (version >= 3) {
    const provides = (info.artifact_provides ?? {}) as Record<string, string>;
    const depends = (info.artifact_depends ?? {}) as Record<string, unknown>;
    const payloads = (info.payloads ?? []) as { type: string | null }[];
    return {
      payloads,
      name: String(provides.artifact_name ?? ''),
      deviceTypes: list(depends.device_type),
      provides: Object.fromEntries(Object.entries(provides).map(([k, v]) => [k, String(v)])),
      depends: Object.fromEntries(Object.entries(depends).map(([k, v]) => [k, list(v)])),
      typeInfo,
      metaData,
    };
  }
  const name = String(info.artifact_name ?? '');
  const deviceTypes = list(info.device_types_compatible);
  return {
    payloads: (info.updates ?? []) as { type: string | null }[],
    name,
    deviceTypes,
    provides: { artifact_name: name },
    depends: { device_type: deviceTypes },
    typeInfo,
    metaData,
  };
}

export async function readArtifact(source: Readable, options: ReadOptions = {}): Promise<ArtifactInfo> {
  const maxHeader = options.maxHeaderBytes ?? 16 * 1024 * 1024;
  const maxPayload = options.maxPayloadBytes ?? Number.MAX_SAFE_INTEGER;
  const keys = (options.verifyKeys ?? []).map((pem) => createPublicKey(pem));
  const extract = tar.extract();
  const feed = pipeline(source, extract).catch((error: unknown) => {
    throw error instanceof ArtifactError
      ? error
      : new ArtifactError(`not a readable artifact: ${(error as Error).message}`);
  });

  let version = 0;
  let versionBytes: Buffer | undefined;
  let manifestBytes: Buffer | undefined;
  let manifest: Map<string, string> | undefined;
  let signature: Buffer | undefined;
  let header: HeaderInfo | undefined;
  let payloadBytes = 0;
  const payloads: Payload[] = [];
  const seen = new Set<string>();

  const check = (name: string, bytes: Buffer | string) => {
    const expected = manifest?.get(name);
    if (!expected) throw new ArtifactError(`${name} is not listed in the manifest`);
    const actual = typeof bytes === 'string' ? bytes : sha256(bytes);
    if (actual !== expected) throw new ArtifactError(`checksum mismatch for ${name}`);
    seen.add(name);
  };

  const consume = (async () => {
    for await (const entry of extract) {
      const name = safeName(entry.header.name);
      if (entry.header.type !== 'file') throw new ArtifactError(`entry ${name} is not a regular file`);
      if (!versionBytes) {
        if (name !== 'version') throw new ArtifactError('not a Mender artifact: the first entry must be "version"');
        versionBytes = await collect(entry, SMALL, 'version');
        const v = json<{ format?: string; version?: number }>(versionBytes, 'version');
        if (v.format !== 'mender' || (v.version !== 2 && v.version !== 3)) {
          throw new ArtifactError(`unsupported artifact format ${JSON.stringify(v.format)} version ${v.version}`);
        }
        version = v.version;
        continue;
      }
      if (!manifest) {
        if (name !== 'manifest') throw new ArtifactError('the second entry must be "manifest"');
        manifestBytes = await collect(entry, maxHeader, 'manifest');
        manifest = parseManifest(manifestBytes);
        check('version', versionBytes);
        continue;
      }
      if (name === 'manifest.sig' && !header && !signature) {
        signature = await collect(entry, SMALL, 'manifest.sig');
        continue;
      }
      if ((name === 'manifest-augment' || name === 'manifest-augment.sig') && !header && version >= 3) {
        // Augmented artifacts carry unsigned extra metadata; Flotilla reads the signed part only.
        await collect(entry, maxHeader, name);
        continue;
      }
      if (!header) {
        const compression = compressionOf(name, 'header');
        if (!compression) throw new ArtifactError(`expected the header, found ${name}`);
        const bytes = await collect(entry, maxHeader, 'header');
        check(name, bytes);
        header = await readHeader(bytes, compression, version, maxHeader);
        continue;
      }
      if (compressionOf(name, 'header-augment')) {
        await collect(entry, maxHeader, name);
        continue;
      }
      const data = /^data\/(\d{4})\.tar(\.gz|\.xz|\.zst)?$/.exec(name);
      if (!data) throw new ArtifactError(`unexpected entry ${name}`);
      const index = Number(data[1]);
      if (index !== payloads.length || index >= header.payloads.length)
        throw new ArtifactError(`unexpected payload ${name}`);
      const files: PayloadFile[] = [];
      const inner = tar.extract();
      const compression = compressionOf(name, `data/${data[1]}`)!;
      const innerFeed = pipeline(decompress(Readable.from(entry as AsyncIterable<unknown>), compression), inner);
      const innerConsume = (async () => {
        for await (const file of inner) {
          const fileName = safeName(file.header.name);
          if (file.header.type !== 'file' || fileName.includes('/'))
            throw new ArtifactError(`payload entry ${fileName} is not a plain file`);
          const hash = createHash('sha256');
          let size = 0;
          for await (const chunk of file) {
            size += (chunk as Buffer).length;
            payloadBytes += (chunk as Buffer).length;
            if (payloadBytes > maxPayload) throw new ArtifactError('payload is larger than allowed');
            hash.update(chunk as Buffer);
          }
          const checksum = hash.digest('hex');
          check(`data/${data[1]}/${fileName}`, checksum);
          files.push({ name: fileName, size, checksum });
        }
      })();
      try {
        await Promise.all([innerFeed, innerConsume]);
      } catch (error) {
        inner.destroy();
        throw error instanceof ArtifactError
          ? error
          : new ArtifactError(`corrupt payload ${name}: ${(error as Error).message}`);
      }
      const typeInfo = header.typeInfo[index] ?? {};
      const declaredType = header.payloads[index]?.type ?? null;
      payloads.push({
        type: declaredType || (typeof typeInfo.type === 'string' && typeInfo.type ? typeInfo.type : null),
        files,
        metaData: header.metaData[index] ?? null,
        provides: (typeInfo.artifact_provides ?? {}) as Record<string, string>,
        depends: (typeInfo.artifact_depends ?? {}) as Record<string, unknown>,
        clearsProvides: Array.isArray(typeInfo.clears_artifact_provides)
          ? (typeInfo.clears_artifact_provides as string[])
          : [],
      });
    }
  })();

  try {
    await Promise.all([feed, consume]);
  } catch (error) {
    extract.destroy();
    source.resume();
    throw error instanceof ArtifactError
      ? error
      : new ArtifactError(`not a readable artifact: ${(error as Error).message}`);
  }
  if (!versionBytes || !manifest || !manifestBytes) throw new ArtifactError('truncated: no version or manifest');
  if (!header) throw new ArtifactError('truncated: no header');
  if (payloads.length !== header.payloads.length) throw new ArtifactError('truncated: payloads missing');
  for (const name of manifest.keys())
    if (!seen.has(name)) throw new ArtifactError(`manifest lists ${name}, which is missing`);
  if (!header.name) throw new ArtifactError('artifact has no name');

  let verified: boolean | undefined;
  if (keys.length) {
    if (!signature) throw new ArtifactError('artifact is not signed, and signatures are required');
    verified = verifyManifest(manifestBytes, signature, keys);
    if (!verified) throw new ArtifactError('signature verification failed');
  }
  const provides = { ...header.provides };
  const depends = { ...header.depends };
  const clearsProvides: string[] = [];
  for (const p of payloads) {
    Object.assign(provides, p.provides);
    for (const [k, v] of Object.entries(p.depends)) {
      depends[k] = Array.isArray(v) ? v.map(String) : [String(v)];
    }
    clearsProvides.push(...p.clearsProvides);
  }
  return {
    format: 'mender',
    version,
    name: header.name,
    deviceTypes: header.deviceTypes,
    provides,
    depends,
    clearsProvides,
    payloads,
    signed: signature !== undefined,
    verified,
  };
}
