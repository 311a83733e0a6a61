// Artifact and release rules: upload (stream to a temporary blob while parsing; visible only when complete and
// valid), Mender's duplicate rule, the tenant's storage limit, edits, deletion, download links and releases.

import { randomUUID } from 'node:crypto';
import { rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Transaction } from 'kysely';
import { type AuditActor, type AuditObject, recordAudit } from '../audit/service.js';
import { type BlobSender, type ByteRange, blobSender, streamSender } from '../blobs/store.js';
import type { CoreDeps } from '../core.js';
import { Conflict, Invalid, NotFound } from '../errors.js';
import { crashAt } from '../ops/crash.js';
import { isUniqueViolation } from '../store/constraints.js';
import { now } from '../store/db.js';
import type { Tables } from '../store/schema.js';
import { checkTexts } from '../text.js';
import type { PayloadLocation } from './parse.js';
import { extractPayloadFile, payloadByteRange, sliceStream } from './payloads.js';
import {
  type ArtifactFilter,
  type ArtifactSort,
  ArtifactStore,
  type Page,
  type ReleaseFilter,
  type ReleaseRow,
  type ReleaseSort,
} from './store.js';
import type { ArtifactKind, ArtifactTable } from './tables.js';
import { canonicalDepends, uniquenessKey } from './uniqueness.js';
import { makeWorkFolder } from './work-folders.js';
import { writeModuleArtifact } from './writer.js';

const DUPLICATE = 'an artifact with the same name and depends already exists';

/** What a parser learns from an artifact stream; the upload fails if it throws. */
export interface ParsedArtifact {
  name: string;
  kind: ArtifactKind;
  format: string;
  version: number;
  signed: boolean;
  deviceTypes: string[];
  provides: Record<string, string>;
  depends: Record<string, string[]>;
  clearsProvides: string[];
  updates: WireUpdate[];
  /** Where payload files sit in the blob (for serving them one by one); opaque to this service. */
  payloads: unknown;
}

export interface WireUpdate {
  type_info: { type: string | null };
  files: { name: string; checksum: string; size: number; date?: string }[];
  /** Deprecated list form of the payload's meta-data, still sent by Mender. */
  meta_data: Record<string, unknown>[];
  metadata: Record<string, string>;
}

/** What a direct upload's completion adds to an upload (uploads.ts). */
export interface UploadOptions {
  /** Bytes of this upload the tenant's usage already counts (a direct upload's own bytes): not counted twice. */
  counted?: number;
  /** The artifact's blob key when `<tenant>/artifacts/<id>` may be taken (completions that may run twice). */
  blobKey?: string;
  /** Writes that belong to the artifact's transaction (a direct upload's row goes with it). */
  alongside?: (trx: Transaction<Tables>) => Promise<void>;
}

export type ArtifactParser = (source: Readable, options: { verifyKeys?: string[] }) => Promise<ParsedArtifact>;

/** Tells which active deployments use artifacts; deployments answer it, until then nothing does. */
export interface ArtifactUsage {
  activeDeploymentsUsing(tenantId: string, artifactIds: string[]): Promise<string[]>;
  /** True when any deployment ever used the artifact (Mender refuses edits then). */
  everUsed(tenantId: string, artifactId: string): Promise<boolean>;
  /** A release (artifacts of one name) got a new artifact: what deployments cached of it is stale. */
  releaseChanged?(tenantId: string, name: string): void;
}

export const noUsage: ArtifactUsage = {
  activeDeploymentsUsing: async () => [],
  everUsed: async () => false,
};

/** The artifact as the Mender management API shows it. */
export interface ArtifactView {
  id: string;
  name: string;
  description: string;
  device_types_compatible: string[];
  info: { format: string; version: number };
  signed: boolean;
  updates: WireUpdate[];
  artifact_provides: Record<string, string>;
  artifact_depends: Record<string, string[]>;
  clears_artifact_provides: string[];
  size: number;
  modified: string;
}

export interface ReleaseView {
  name: string;
  artifacts: ArtifactView[];
  artifacts_count: number;
  modified: string;
  notes: string;
  tags: string[];
}

export const MAX_RELEASE_TAGS = 20;
export const MAX_UNIQUE_TAGS = 100;
const TAG = /^[A-Za-z0-9_.-]+$/;
export const MAX_NOTES_LENGTH = 1024;

export class ArtifactService {
  constructor(
    private readonly deps: CoreDeps,
    private readonly parse: ArtifactParser,
    private usage: ArtifactUsage = noUsage,
  ) {}

  /** Deployments register here once they exist, so that deletes see active deployments. */
  setUsage(usage: ArtifactUsage): void {
    this.usage = usage;
  }

  store(tenantId: string): ArtifactStore {
    return new ArtifactStore(this.deps.store.db, tenantId);
  }

  /**
   * Streams `source` into a temporary blob while the parser reads the same bytes. The artifact becomes
   * visible only after both finished, the parser accepted it and the duplicate and storage rules passed.
   */
  async upload(
    tenantId: string,
    source: Readable,
    description = '',
    id?: string,
    actor?: AuditActor,
    options: UploadOptions = {},
  ): Promise<ArtifactView> {
    const tenant = await this.deps.tenants.byId(tenantId);
    if (!tenant) throw new NotFound('tenant not found');
    const limit = tenant.storage_limit;
    const used = limit > 0 ? (await this.store(tenantId).usage()) - (options.counted ?? 0) : 0;
    const byLimit = limit > 0 && limit - used < this.deps.config.maxArtifactSize;
    const maxSize = byLimit ? limit - used : this.deps.config.maxArtifactSize;
    const tooLarge = byLimit ? 'artifact storage limit exceeded' : 'artifact too large';

    const artifactId = id ?? randomUUID();
    const blobKey = options.blobKey ?? `${tenantId}/artifacts/${artifactId}`;
    const pending = await this.deps.blobs.begin(blobKey);
    let size = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        size += chunk.length;
        if (size > maxSize) {
          done(new Invalid(tooLarge));
          return;
        }
        done(null, chunk);
      },
    });
    const toBlob = new PassThrough();
    const toParser = new PassThrough();
    counter.pipe(toBlob);
    counter.pipe(toParser);
    // Failures arrive through the promises below. A stream destroyed after its pipeline finished (the reader can
    // fail after every byte was written) has no listener left, and must not throw.
    for (const stream of [counter, toBlob, toParser, pending.stream]) stream.on('error', () => undefined);
    // The first failure (a bad artifact, the size cap, storage) stops every stream of the upload at once: with
    // one branch of the tee gone, the others would otherwise wait forever.
    let firstError: unknown;
    const fail = (error: unknown) => {
      firstError ??= error;
      for (const stream of [counter, toBlob, toParser, pending.stream]) stream.destroy(error as Error);
    };
    const keys = this.deps.tenants.artifactKeys(tenant);
    const verify = { verifyKeys: keys.length ? keys : undefined };
    const work = [pipeline(source, counter), pipeline(toBlob, pending.stream), this.parse(toParser, verify)] as const;
    for (const promise of work) promise.catch(fail);
    const results = await Promise.allSettled(work);
    if (firstError !== undefined) {
      source.resume();
      await pending.abort();
      throw firstError instanceof Invalid
        ? firstError
        : new Invalid(`invalid artifact: ${(firstError as Error)?.message ?? firstError}`);
    }
    const parsed = (results[2] as PromiseFulfilledResult<ParsedArtifact>).value;
    try {
      return await this.record(
        tenantId,
        parsed,
        size,
        description,
        pending,
        { id: artifactId, blobKey },
        actor,
        options,
      );
    } catch (error) {
      await pending.abort();
      throw error;
    }
  }

  private async record(
    tenantId: string,
    parsed: ParsedArtifact,
    size: number,
    description: string,
    pending: { commit(): Promise<void> },
    { id, blobKey }: { id: string; blobKey: string },
    actor?: AuditActor,
    options: UploadOptions = {},
  ): Promise<ArtifactView> {
    if (!parsed.name) throw new Invalid('artifact has no name');
    if (parsed.deviceTypes.length === 0) throw new Invalid('artifact has no compatible device types');
    // Texts from the artifact's own headers and from multipart fields, which the HTTP-level check never sees.
    checkTexts(description, 'description');
    checkTexts(
      [parsed.name, parsed.deviceTypes, parsed.provides, parsed.depends, parsed.clearsProvides, parsed.updates],
      'artifact',
    );
    await this.assertUnique(tenantId, parsed);
    const ts = now();
    const row: Omit<ArtifactTable, 'tenant_id'> = {
      id,
      name: parsed.name,
      description,
      kind: parsed.kind,
      format: parsed.format,
      format_version: parsed.version,
      signed: parsed.signed ? 1 : 0,
      updates_json: JSON.stringify(parsed.updates),
      provides_json: JSON.stringify(parsed.provides),
      depends_json: JSON.stringify(parsed.depends),
      clears_provides_json: JSON.stringify(parsed.clearsProvides),
      payloads_json: JSON.stringify(parsed.payloads ?? null),
      size,
      blob_key: blobKey,
      created_ts: ts,
      modified: ts,
    };
    // Blob first, row second: a crash between them leaves a blob no row owns, which the reaper deletes (reaper.ts);
    // the other order would show an artifact whose bytes may never come.
    await pending.commit();
    crashAt(this.deps.config, 'artifact.blob-committed');
    try {
      await this.deps.store.transaction(async (trx) => {
        await new ArtifactStore(trx, tenantId).insert(
          row,
          parsed.deviceTypes,
          uniquenessKey(parsed.name, parsed.depends),
        );
        await options.alongside?.(trx);
        if (actor) await recordAudit(trx, tenantId, { actor, action: 'upload', object: artifactObject(row) });
      });
    } catch (error) {
      // The key is this attempt's own (fresh id, or a completion's own key): never another upload's blob.
      await this.deps.blobs.delete(blobKey);
      // An upload of the same name and depends that passed the check above at the same time won the index.
      if (isUniqueViolation(error)) throw new Conflict(DUPLICATE);
      throw error;
    }
    crashAt(this.deps.config, 'artifact.recorded');
    this.usage.releaseChanged?.(tenantId, row.name);
    return this.view({ ...row, tenant_id: tenantId }, parsed.deviceTypes);
  }

  /**
   * Mender's duplicate rule (uniqueness.ts), checked before the blob is kept; the unique index decides between
   * uploads that pass it at the same time.
   */
  private async assertUnique(tenantId: string, parsed: ParsedArtifact, store = this.store(tenantId)): Promise<void> {
    const others = await store.sameNameForDeviceTypes(parsed.name, parsed.deviceTypes);
    const mine = canonicalDepends(parsed.depends);
    for (const other of others) {
      if (canonicalDepends(JSON.parse(other.depends_json)) === mine) throw new Conflict(DUPLICATE);
    }
  }

  /**
   * Generates a single-file update module artifact from a raw file (the management API's `generate`), the way
   * Mender's single-file-artifact-gen lays it out: payload files `dest_dir`, `filename`, `permissions` and the file.
   * Mender queues this; Flotilla does it at once, so the artifact exists when the request answers.
   */
  async generate(
    tenantId: string,
    input: {
      name: string;
      description: string;
      deviceTypes: string[];
      type: string;
      args: string;
      filePath: string;
      fileName: string;
    },
    actor?: AuditActor,
  ): Promise<ArtifactView> {
    if (input.type !== 'single_file') throw new Invalid('type: must be single_file');
    if (!input.name) throw new Invalid('name: cannot be blank');
    if (input.deviceTypes.length === 0) throw new Invalid('device_types_compatible: cannot be blank');
    let args: { dest_dir?: unknown; filename?: unknown } = {};
    if (input.args) {
      try {
        args = JSON.parse(input.args);
      } catch {
        throw new Invalid('args: must be a JSON document');
      }
    }
    const destDir = typeof args.dest_dir === 'string' && args.dest_dir ? args.dest_dir : '/';
    const fileName = typeof args.filename === 'string' && args.filename ? args.filename : input.fileName;
    if (!fileName || fileName.includes('/') || fileName === '..' || fileName === '.')
      throw new Invalid('filename: must be a plain file name');
    const work = await makeWorkFolder(this.deps.config.dataDir, 'generate');
    try {
      await writeFile(join(work, 'dest_dir'), destDir);
      await writeFile(join(work, 'filename'), fileName);
      const mode = (await stat(input.filePath)).mode & 0o777;
      await writeFile(join(work, 'permissions'), (mode || 0o644).toString(8));
      crashAt(this.deps.config, 'generate.working');
      const stream = await writeModuleArtifact({
        name: input.name,
        deviceTypes: input.deviceTypes,
        type: 'single-file',
        files: [
          { name: 'dest_dir', path: join(work, 'dest_dir') },
          { name: 'filename', path: join(work, 'filename') },
          { name: 'permissions', path: join(work, 'permissions') },
          { name: fileName, path: input.filePath },
        ],
        workDir: work,
      });
      return await this.upload(tenantId, stream, input.description, undefined, actor);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }

  async get(tenantId: string, id: string): Promise<ArtifactView> {
    const row = await this.store(tenantId).byId(id);
    if (!row) throw new NotFound('artifact not found');
    const types = await this.store(tenantId).deviceTypesOf([id]);
    return this.view(row, types.get(id) ?? []);
  }

  async row(tenantId: string, id: string): Promise<ArtifactTable> {
    const row = await this.store(tenantId).byId(id);
    if (!row) throw new NotFound('artifact not found');
    return row;
  }

  async list(tenantId: string, filter: ArtifactFilter, sort: ArtifactSort, page?: Page) {
    const store = this.store(tenantId);
    const { rows, total } = await store.list(filter, sort, page);
    return { artifacts: await this.views(store, rows), total };
  }

  async editDescription(tenantId: string, id: string, description: string, actor?: AuditActor): Promise<void> {
    const row = await this.row(tenantId, id);
    if (await this.usage.everUsed(tenantId, id)) {
      throw new Invalid('the artifact has been used in a deployment and cannot be edited');
    }
    await this.deps.store.transaction(async (trx) => {
      await new ArtifactStore(trx, tenantId).updateDescription(id, description, now());
      if (actor) {
        const change = JSON.stringify({ description });
        await recordAudit(trx, tenantId, { actor, action: 'update', object: artifactObject(row), change });
      }
    });
  }

  async delete(tenantId: string, id: string, actor?: AuditActor): Promise<void> {
    const row = await this.row(tenantId, id);
    if ((await this.usage.activeDeploymentsUsing(tenantId, [id])).length) {
      throw new Conflict('artifact used by active deployment');
    }
    await this.deps.store.transaction(async (trx) => {
      await new ArtifactStore(trx, tenantId).delete(id, row.name);
      if (actor) await recordAudit(trx, tenantId, { actor, action: 'delete', object: artifactObject(row) });
    });
    // A crash here leaves the blob without its row: the reaper deletes it.
    crashAt(this.deps.config, 'artifact.deleted');
    await this.deps.blobs.delete(row.blob_key);
  }

  /** A signed link to the artifact file; Flotilla serves it unless the blob store hands out its own URL. */
  async downloadLink(tenantId: string, id: string, baseUrl: string, ttlSeconds = this.deps.config.downloadLinkTtl) {
    const row = await this.row(tenantId, id);
    return this.linkFor(tenantId, { id, name: row.name, blobKey: row.blob_key }, baseUrl, ttlSeconds);
  }

  /** The link for an artifact whose blob is known (a device's poll has it at hand: no look-up). */
  async linkFor(
    tenantId: string,
    artifact: { id: string; name: string; blobKey: string },
    baseUrl: string,
    ttlSeconds = this.deps.config.downloadLinkTtl,
  ) {
    const expiresAt = new Date(Date.now() + ttlSeconds * 1000);
    const direct = await this.deps.blobs.downloadUrl(artifact.blobKey, expiresAt, `${artifact.name}.mender`);
    const uri = direct ?? this.deps.links.url(baseUrl, downloadPath(tenantId, artifact.id), expiresAt);
    return { uri, expire: expiresAt.toISOString() };
  }

  /**
   * One payload file of a stored artifact (what a hawkBit chunk download serves), or bytes `range.start..end` of it:
   * a ranged read of the artifact's blob when the file is stored uncompressed, else streamed out of it.
   */
  async openPayloadFile(
    tenantId: string,
    id: string,
    updateIndex: number,
    fileName: string,
    range?: { start: number; end: number },
  ): Promise<Readable> {
    const place = await this.payloadFilePlace(tenantId, id, updateIndex, fileName, range);
    return 'blobKey' in place ? this.deps.blobs.open(place.blobKey, place.range) : place.stream;
  }

  /** The same bytes for an HTTP answer (see BlobSender). */
  async payloadFileSender(
    tenantId: string,
    id: string,
    updateIndex: number,
    fileName: string,
    range?: { start: number; end: number },
  ): Promise<BlobSender> {
    const place = await this.payloadFilePlace(tenantId, id, updateIndex, fileName, range);
    return 'blobKey' in place ? blobSender(this.deps.blobs, place.blobKey, place.range) : streamSender(place.stream);
  }

  /** Where a payload file's bytes are: a byte range of the artifact's blob, or a stream cut out of it. */
  private async payloadFilePlace(
    tenantId: string,
    id: string,
    updateIndex: number,
    fileName: string,
    range?: { start: number; end: number },
  ): Promise<{ blobKey: string; range: ByteRange } | { stream: Readable }> {
    const row = await this.row(tenantId, id);
    const update = (JSON.parse(row.updates_json) as WireUpdate[])[updateIndex];
    const file = update?.files.find((f) => f.name === fileName);
    if (!file) throw new NotFound(`payload file ${fileName} not found`);
    const wanted = range ?? { start: 0, end: file.size - 1 };
    if (file.size === 0) return { stream: Readable.from([]) };
    const places = JSON.parse(row.payloads_json) as PayloadLocation[] | null;
    const stored = payloadByteRange(places, updateIndex, fileName, wanted.start, wanted.end);
    if (stored) return { blobKey: row.blob_key, range: stored };
    const whole = await extractPayloadFile(await this.deps.blobs.open(row.blob_key), updateIndex, fileName);
    return { stream: range ? sliceStream(whole, range.start, range.end) : whole };
  }

  async storageUsage(tenantId: string): Promise<{ limit: number; usage: number }> {
    const tenant = await this.deps.tenants.byId(tenantId);
    return { limit: tenant?.storage_limit ?? 0, usage: await this.store(tenantId).usage() };
  }

  async listReleases(tenantId: string, filter: ReleaseFilter, sort: ReleaseSort, page?: Page) {
    const store = this.store(tenantId);
    const { rows, total } = await store.listReleases(filter, sort, page);
    const releases: ReleaseView[] = [];
    for (const release of rows) releases.push(await this.releaseView(store, release));
    return { releases, total };
  }

  async getRelease(tenantId: string, name: string): Promise<ReleaseView> {
    const store = this.store(tenantId);
    const release = await store.release(name);
    if (!release) throw new NotFound('release not found');
    return this.releaseView(store, release);
  }

  async updateReleaseNotes(tenantId: string, name: string, notes: string, actor?: AuditActor): Promise<void> {
    if (notes.length > MAX_NOTES_LENGTH)
      throw new Invalid(`notes: the length must be no more than ${MAX_NOTES_LENGTH}.`);
    await this.deps.store.transaction(async (trx) => {
      if (!(await new ArtifactStore(trx, tenantId).updateRelease(name, { notes }, now()))) {
        throw new NotFound('release not found');
      }
      if (actor) {
        await recordAudit(trx, tenantId, {
          actor,
          action: 'update',
          object: { type: 'release', id: name },
          change: JSON.stringify({ notes }),
        });
      }
    });
  }

  async setReleaseTags(tenantId: string, name: string, tags: string[], actor?: AuditActor): Promise<void> {
    const unique = [...new Set(tags.map((t) => t.toLowerCase()))].sort();
    if (unique.length > MAX_RELEASE_TAGS) throw new Invalid(`the number of tags must be at most ${MAX_RELEASE_TAGS}`);
    for (const tag of unique) {
      if (!TAG.test(tag) || tag.length > 1024) throw new Invalid(`invalid tag: ${JSON.stringify(tag)}`);
    }
    await this.deps.store.transaction(async (trx) => {
      const store = new ArtifactStore(trx, tenantId);
      const release = await store.release(name);
      if (!release) throw new NotFound('release not found');
      const others = new Set(await store.allReleaseTags());
      for (const tag of JSON.parse(release.tags_json) as string[]) others.delete(tag);
      for (const tag of unique) others.add(tag);
      if (others.size > MAX_UNIQUE_TAGS) throw new Conflict('the total number of unique tags has been exceeded');
      await store.updateRelease(name, { tags_json: JSON.stringify(unique) }, now());
      if (actor) {
        await recordAudit(trx, tenantId, {
          actor,
          action: 'update',
          object: { type: 'release', id: name },
          change: JSON.stringify({ tags: unique }),
        });
      }
    });
  }

  async deleteReleases(tenantId: string, names: string[]): Promise<{ activeDeployments: string[] }> {
    const store = this.store(tenantId);
    const artifacts = (await Promise.all(names.map((n) => store.byName(n)))).flat();
    const active = await this.usage.activeDeploymentsUsing(
      tenantId,
      artifacts.map((a) => a.id),
    );
    if (active.length) return { activeDeployments: active };
    await this.deps.store.transaction(async (trx) => {
      const s = new ArtifactStore(trx, tenantId);
      for (const a of artifacts) await s.delete(a.id, a.name);
    });
    for (const a of artifacts) await this.deps.blobs.delete(a.blob_key);
    return { activeDeployments: [] };
  }

  allReleaseTags(tenantId: string): Promise<string[]> {
    return this.store(tenantId).allReleaseTags();
  }

  allUpdateTypes(tenantId: string): Promise<string[]> {
    return this.store(tenantId).allUpdateTypes();
  }

  private async releaseView(store: ArtifactStore, release: ReleaseRow): Promise<ReleaseView> {
    const artifacts = await this.views(store, await store.byName(release.name));
    return {
      name: release.name,
      artifacts,
      artifacts_count: release.artifacts_count,
      modified: release.modified,
      notes: release.notes,
      tags: JSON.parse(release.tags_json),
    };
  }

  private async views(store: ArtifactStore, rows: ArtifactTable[]): Promise<ArtifactView[]> {
    const types = await store.deviceTypesOf(rows.map((r) => r.id));
    return rows.map((r) => this.view(r, types.get(r.id) ?? []));
  }

  view(row: ArtifactTable, deviceTypes: string[]): ArtifactView {
    return {
      id: row.id,
      name: row.name,
      description: row.description,
      device_types_compatible: deviceTypes,
      info: { format: row.format, version: row.format_version },
      signed: row.signed === 1,
      updates: JSON.parse(row.updates_json),
      artifact_provides: JSON.parse(row.provides_json),
      artifact_depends: JSON.parse(row.depends_json),
      clears_artifact_provides: JSON.parse(row.clears_provides_json),
      size: Number(row.size),
      modified: row.modified,
    };
  }
}

/** The path Flotilla serves an artifact's bytes under (signed; no other credential). */
export function downloadPath(tenantId: string, artifactId: string): string {
  return `/api/downloads/v1/${tenantId}/artifacts/${artifactId}`;
}

/** An artifact as an audit entry names it. */
function artifactObject(row: { id: string; name: string }): AuditObject {
  return { type: 'artifact', id: row.id, artifact: { name: row.name } };
}
