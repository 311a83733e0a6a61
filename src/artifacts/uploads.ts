// Direct uploads (Mender's on-premise `artifacts/directupload`): an operator asks for an upload link, PUTs the
// artifact's bytes to it (as a client would to an S3 presigned URL), then completes the upload; only then is the
// artifact parsed, checked and made visible, under the upload's id. On the folder blob store Flotilla serves the
// link itself, signed and expiring like its download links. The bytes count in the tenant's storage use from the PUT
// until the upload becomes an artifact or is abandoned; every step is safe to cut by a crash: a blob no row owns is
// the reaper's (reaper.ts), and a completion cut half-way can be asked again.

import { randomUUID } from 'node:crypto';
import { type Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { AuditActor } from '../audit/service.js';
import type { CoreDeps } from '../core.js';
import { Conflict, Forbidden, Invalid, NotFound } from '../errors.js';
import { crashAt } from '../ops/crash.js';
import type { ArtifactService, ArtifactView } from './service.js';
import { uploadsAbandonedBefore } from './store.js';

/** How long an upload link stays valid (Mender's default for its presigned upload links is 15 minutes). */
export const UPLOAD_LINK_TTL_SECONDS = 15 * 60;

export function uploadPath(tenantId: string, id: string): string {
  return `/api/uploads/v1/${encodeURIComponent(tenantId)}/artifacts/${encodeURIComponent(id)}`;
}

export class DirectUploads {
  constructor(
    private readonly deps: CoreDeps,
    private readonly artifacts: ArtifactService,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  /**
   * `POST .../artifacts/directupload`: a new upload and the link its bytes go to. Mender's request names no size,
   * so the upload is counted by what its PUT writes; a tenant already at its storage limit gets no link.
   */
  async requestLink(tenantId: string, baseUrl: string): Promise<{ id: string; uri: string; expire: string }> {
    const { limit, used } = await this.storage(tenantId);
    if (limit > 0 && used >= limit) throw new Invalid('artifact storage limit exceeded');
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

  /**
   * The PUT to an upload link: stores the bytes (a second PUT before completion replaces them). Refused past the
   * artifact size cap and past the tenant's storage limit, counting what is written (the bytes it replaces aside).
   */
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
    const { limit, used } = await this.storage(tenantId);
    const room = limit > 0 ? limit - (used - Number(row.size)) : Number.POSITIVE_INFINITY;
    const byLimit = room < this.deps.config.maxArtifactSize;
    const max = byLimit ? room : this.deps.config.maxArtifactSize;
    const tooLarge = byLimit ? 'artifact storage limit exceeded' : 'artifact too large';
    let size = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        size += chunk.length;
        done(size > max ? new Invalid(tooLarge) : null, chunk);
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
    // A crash here leaves the new bytes without a row (the reaper's); the upload keeps its old ones.
    crashAt(this.deps.config, 'directupload.received');
    const updated = await this.deps.store.db
      .updateTable('artifact_uploads')
      .set({ status: 'uploaded', blob_key: key, size })
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
   * upload's id, and the upload's row goes in the artifact's transaction. 404 when there is no such upload, when it
   * was abandoned, or when no bytes arrived. Asked again once the artifact exists (a lost answer, or a crash after
   * the artifact's commit), it answers that artifact: completion is idempotent. Mender processes the upload
   * afterwards and answers 202 at once; Flotilla answers 202 once the artifact exists, and a bad artifact is a 400
   * with the reason instead of an artifact that never appears.
   */
  async complete(tenantId: string, id: string, actor?: AuditActor): Promise<ArtifactView> {
    const row = await this.row(tenantId, id);
    if (!row?.blob_key || !(row.status === 'uploaded' || (await this.inStore(row.status, row.blob_key)))) {
      if (await this.artifacts.store(tenantId).byId(id)) return this.artifacts.get(tenantId, id);
      throw new NotFound('not found');
    }
    const bytes = row.blob_key;
    let created: ArtifactView;
    try {
      created = await this.artifacts.upload(tenantId, await this.deps.blobs.open(bytes), '', id, actor, {
        counted: Number(row.size),
        // Two completions of one upload may both get this far: each writes its own blob, the artifact's primary
        // key picks one, and the other deletes only what it wrote.
        blobKey: `${tenantId}/artifacts/${id}-${randomUUID()}`,
        alongside: async (trx) => {
          const taken = await trx
            .deleteFrom('artifact_uploads')
            .where('tenant_id', '=', tenantId)
            .where('id', '=', id)
            .where('blob_key', '=', bytes)
            .executeTakeFirst();
          if (Number(taken.numDeletedRows) !== 1) throw new UploadChanged();
        },
      });
    } catch (error) {
      if (error instanceof UploadChanged) throw new Conflict('the upload changed while it was completed; try again');
      if (await this.artifacts.store(tenantId).byId(id)) return this.artifacts.get(tenantId, id);
      // A bad artifact (or one refused by a rule) will not become good: the upload goes, bytes and all.
      await this.forget(tenantId, id, bytes);
      throw error;
    }
    // A crash here leaves the upload's bytes without a row: the reaper's.
    await this.deps.blobs.delete(bytes);
    return created;
  }

  /** Bytes PUT straight to the store's own link (the row stays pending: Flotilla saw no PUT). */
  private async inStore(status: string, key: string): Promise<boolean> {
    return status === 'pending' && (await this.deps.blobs.size(key)) !== undefined;
  }

  /** The upload's row unless it was abandoned. */
  private async row(tenantId: string, id: string) {
    const row = await this.deps.store.db
      .selectFrom('artifact_uploads')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
    if (!row || row.expires_ts <= uploadsAbandonedBefore(this.clock())) return undefined;
    return row;
  }

  private async forget(tenantId: string, id: string, bytes: string): Promise<void> {
    await this.deps.store.db
      .deleteFrom('artifact_uploads')
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .where('blob_key', '=', bytes)
      .execute();
    await this.deps.blobs.delete(bytes);
  }

  private async storage(tenantId: string): Promise<{ limit: number; used: number }> {
    const { limit, usage } = await this.artifacts.storageUsage(tenantId);
    return { limit, used: limit > 0 ? usage : 0 };
  }
}

/** The upload's bytes were replaced (a PUT) while its completion parsed the old ones. */
class UploadChanged extends Error {}
