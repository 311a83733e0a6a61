// Direct uploads (Mender's on-premise `artifacts/directupload`): an operator asks for an upload link, PUTs the
// artifact's bytes to it (as a client would to an S3 presigned URL), then completes the upload; only then is the
// artifact parsed, checked and made visible, under the upload's id. On the folder blob store Flotilla serves the
// link itself, signed and expiring like its download links.

import { randomUUID } from 'node:crypto';
import { type Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { AuditActor } from '../audit/service.js';
import type { CoreDeps } from '../core.js';
import { Forbidden, Invalid, NotFound } from '../errors.js';
import type { ArtifactService, ArtifactView } from './service.js';

/** How long an upload link stays valid (Mender's default for its presigned upload links is 15 minutes). */
export const UPLOAD_LINK_TTL_SECONDS = 15 * 60;

/** An upload not completed this long after its link expired is abandoned. */
const STALE_AFTER_SECONDS = 24 * 3600;

export function uploadPath(tenantId: string, id: string): string {
  return `/api/uploads/v1/${encodeURIComponent(tenantId)}/artifacts/${encodeURIComponent(id)}`;
}

export class DirectUploads {
  constructor(
    private readonly deps: CoreDeps,
    private readonly artifacts: ArtifactService,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  /** `POST .../artifacts/directupload`: a new upload and the link its bytes go to. */
  async requestLink(tenantId: string, baseUrl: string): Promise<{ id: string; uri: string; expire: string }> {
    await this.sweepStale(tenantId);
    const id = randomUUID();
    const created = this.clock();
    const expiresAt = new Date(created.getTime() + UPLOAD_LINK_TTL_SECONDS * 1000);
    const directKey = this.deps.blobs.uploadUrl ? `${tenantId}/uploads/${id}` : undefined;
    const directUri = directKey ? await this.deps.blobs.uploadUrl?.(directKey, expiresAt) : undefined;
    await this.deps.store.db
      .insertInto('artifact_uploads')
      .values({
        tenant_id: tenantId,
        id,
        status: 'pending',
        blob_key: directKey ?? null,
        created_ts: created.toISOString(),
        expires_ts: expiresAt.toISOString(),
      })
      .execute();
    if (directUri) return { id, uri: directUri, expire: expiresAt.toISOString() };
    const path = uploadPath(tenantId, id);
    const signed = this.deps.links.sign(path, expiresAt);
    return {
      id,
      uri: `${baseUrl}${path}?expires=${signed.expires}&signature=${signed.signature}`,
      expire: expiresAt.toISOString(),
    };
  }

  /** The PUT to an upload link: stores the bytes (a second PUT before completion replaces them). */
  async receive(
    tenantId: string,
    id: string,
    query: { expires?: string; signature?: string },
    body: Readable,
  ): Promise<void> {
    if (!this.deps.links.verify(uploadPath(tenantId, id), query, this.clock())) {
      body.resume();
      throw new Forbidden('the upload link is invalid or has expired');
    }
    const row = await this.row(tenantId, id);
    if (!row) {
      body.resume();
      throw new NotFound('upload not found');
    }
    const limit = this.deps.config.maxArtifactSize;
    let size = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        size += chunk.length;
        done(size > limit ? new Invalid('artifact too large') : null, chunk);
      },
    });
    const key = `${tenantId}/uploads/${id}-${randomUUID()}`;
    const pending = await this.deps.blobs.begin(key);
    try {
      await pipeline(body, counter, pending.stream);
    } catch (error) {
      body.resume();
      await pending.abort();
      throw error instanceof Invalid ? error : new Invalid(`upload failed: ${(error as Error).message}`);
    }
    await pending.commit();
    const updated = await this.deps.store.db
      .updateTable('artifact_uploads')
      .set({ status: 'uploaded', blob_key: key })
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .where('blob_key', row.blob_key === null ? 'is' : '=', row.blob_key)
      .executeTakeFirst();
    if (Number(updated.numUpdatedRows) !== 1) {
      // Another PUT or the completion got there first: ours is not the upload's bytes.
      await this.deps.blobs.delete(key);
      throw new NotFound('upload not found');
    }
    if (row.blob_key) await this.deps.blobs.delete(row.blob_key);
  }

  /**
   * `POST .../directupload/{id}/complete`: parses the uploaded bytes like any upload; the artifact takes the
   * upload's id. 404 when there is no such upload, when it expired, or when no bytes arrived. Mender processes
   * the upload afterwards and answers 202 at once; Flotilla answers 202 once the artifact exists, and a bad
   * artifact is a 400 with the reason instead of an artifact that never appears.
   */
  async complete(tenantId: string, id: string, actor?: AuditActor): Promise<ArtifactView> {
    const row = await this.row(tenantId, id);
    if (!row?.blob_key || !(row.status === 'uploaded' || (await this.inStore(row.status, row.blob_key))))
      throw new NotFound('not found');
    // Claim it: a second completion of the same upload finds nothing.
    const claimed = await this.deps.store.db
      .deleteFrom('artifact_uploads')
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .where('blob_key', '=', row.blob_key)
      .executeTakeFirst();
    if (Number(claimed.numDeletedRows) !== 1) throw new NotFound('not found');
    try {
      return await this.artifacts.upload(tenantId, await this.deps.blobs.open(row.blob_key), '', id, actor);
    } finally {
      await this.deps.blobs.delete(row.blob_key);
    }
  }

  /** Bytes PUT straight to the store's own link (the row stays pending: Flotilla saw no PUT). */
  private async inStore(status: string, key: string): Promise<boolean> {
    return status === 'pending' && (await this.deps.blobs.size(key)) !== undefined;
  }

  /** An upload whose link expired (completion may come later than the PUT, but not a day later). */
  private async row(tenantId: string, id: string) {
    const row = await this.deps.store.db
      .selectFrom('artifact_uploads')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
    if (!row || row.expires_ts <= this.staleBefore()) return undefined;
    return row;
  }

  private staleBefore(): string {
    return new Date(this.clock().getTime() - STALE_AFTER_SECONDS * 1000).toISOString();
  }

  /** Uploads abandoned for a day go, bytes and all. */
  private async sweepStale(tenantId: string): Promise<void> {
    const stale = await this.deps.store.db
      .selectFrom('artifact_uploads')
      .select(['id', 'blob_key'])
      .where('tenant_id', '=', tenantId)
      .where('expires_ts', '<=', this.staleBefore())
      .limit(100)
      .execute();
    for (const row of stale) {
      await this.deps.store.db.deleteFrom('artifact_uploads').where('id', '=', row.id).execute();
      if (row.blob_key) await this.deps.blobs.delete(row.blob_key);
    }
  }
}
