// The blob reaper: reconciles the blob store with the rows that own blobs, once at start and then periodically,
// under the `blobs.reap` lease so that one process of several does it. It deletes what no row owns (a crash between
// a blob's commit and its row, or between a row's delete and its blob's) once older than the grace period, removes
// direct uploads abandoned for a day with their bytes, and reports rows whose blob is missing.
//
// What it never does: delete a row whose blob is missing (an object store answering a listing late, or a blob an
// operator can restore from a backup, must not cost the artifact's metadata and deployments), or touch a key outside
// Flotilla's layout `<tenant>/artifacts/<name>` / `<tenant>/uploads/<name>` (a shared bucket prefix). Uploads in
// flight are not listed at all (a temporary file, an open multipart upload); a blob committed a moment before its
// row is inserted, maybe by another process, is what the grace period protects. (On S3 an object's LastModified is
// when its multipart upload began, so the grace should exceed the longest upload; the rows are read after the
// listing, so only the milliseconds between such an upload's commit and its row are exposed.) A new kind of blob
// owner under these two folders must be added to BlobRows.owners; one elsewhere is left alone by design.

import type { BlobStore, StoredBlob } from '../blobs/store.js';
import type { Config } from '../config.js';
import { BackgroundLoop, LeasedJob } from '../store/background.js';
import type { Store } from '../store/db.js';
import type { Leases } from '../store/leases.js';
import { type BlobOwner, BlobRows } from './blob-rows.js';

export const REAP_LEASE = 'blobs.reap';
const OURS = /^[^/]+\/(artifacts|uploads)\/[^/]+$/;
/** Abandoned uploads removed per run; the next run takes the rest. */
const ABANDONED_BATCH = 500;
/** How long one run may hold the lease if its process dies in the middle. */
const RUN_LEASE_MS = 10 * 60 * 1000;
/** Missing blobs named in the log line (all are counted). */
const NAMED = 20;

export interface Reconciliation {
  /** Blobs in Flotilla's layout after the run, and their bytes. */
  blobs: number;
  bytes: number;
  /** Bytes the rows account for: artifacts, and direct uploads until abandoned (what storage use counts). */
  accounted: number;
  /** Blobs no row owned, deleted, and their bytes. */
  reaped: number;
  reapedBytes: number;
  /** Blobs no row owns that are younger than the grace period, left for a later run. */
  young: number;
  /** Direct uploads abandoned for a day, removed with their bytes. */
  abandoned: number;
  /** Rows whose blob is missing: reported, kept. */
  missing: BlobOwner[];
  /** Keys outside Flotilla's layout, left alone. */
  foreign: number;
}

export interface ReaperLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export class BlobReaper {
  private readonly loop: BackgroundLoop;
  private readonly job: LeasedJob;
  private readonly rows: BlobRows;
  /** The last reconciliation this process ran, and how many it ran (metrics). */
  last: Reconciliation | undefined;
  runs = 0;
  reapedTotal = 0;
  private first: Promise<unknown> | undefined;

  constructor(
    store: Store,
    private readonly blobs: BlobStore,
    leases: Leases,
    private readonly config: Pick<Config, 'reapInterval' | 'blobGrace'>,
    private readonly log: ReaperLog,
    private readonly clock: () => Date = () => new Date(),
  ) {
    this.rows = new BlobRows(store.db);
    this.loop = new BackgroundLoop(
      config.reapInterval * 1000,
      () => this.reapOnce(),
      (error) => this.log.error({ err: error }, 'blob reconciliation failed'),
    );
    // Held only while a run lasts (a listing of a large bucket takes a while) and given back after it: a lease kept
    // for the interval would stop a restarted process from reconciling what its predecessor's crash left. Processes
    // that each run every interval at different moments do the (idempotent) work more than once; never at once.
    this.job = new LeasedJob(leases, REAP_LEASE, RUN_LEASE_MS);
  }

  /** One run if this process gets the lease; undefined when another process holds it. */
  async reapOnce(): Promise<Reconciliation | undefined> {
    const result = await this.job.run(async () => {
      try {
        return await this.reconcile();
      } finally {
        await this.job.release();
      }
    });
    if (result) this.report(result);
    return result;
  }

  private async reconcile(): Promise<Reconciliation> {
    const at = this.clock();
    const abandoned = await this.removeAbandoned(at);
    // Listed before the rows are read: a blob committed after the listing is not judged in this run.
    const listed = new Map<string, StoredBlob>();
    let foreign = 0;
    for await (const blob of this.blobs.list()) {
      if (OURS.test(blob.key)) listed.set(blob.key, blob);
      else foreign++;
    }
    const owners = await this.rows.owners(at);
    const owned = new Set(owners.map((o) => o.blobKey));
    const graceEnd = at.getTime() - this.config.blobGrace * 1000;
    let reaped = 0;
    let reapedBytes = 0;
    let young = 0;
    for (const blob of listed.values()) {
      if (owned.has(blob.key)) continue;
      if (blob.modified.getTime() > graceEnd) {
        young++;
        continue;
      }
      await this.blobs.delete(blob.key);
      listed.delete(blob.key);
      reaped++;
      reapedBytes += blob.size;
    }
    const missing: BlobOwner[] = [];
    for (const owner of owners) {
      // A row written after the listing may own a blob the listing could not see: asked again before reported.
      if (!listed.has(owner.blobKey) && (await this.blobs.size(owner.blobKey)) === undefined) missing.push(owner);
    }
    let bytes = 0;
    for (const blob of listed.values()) bytes += blob.size;
    const accounted = owners.reduce((sum, o) => sum + o.size, 0);
    return { blobs: listed.size, bytes, accounted, reaped, reapedBytes, young, abandoned, missing, foreign };
  }

  /** Abandoned direct uploads: the row first (no longer counted), then its bytes (a crash between: an orphan). */
  private async removeAbandoned(at: Date): Promise<number> {
    let removed = 0;
    for (const upload of await this.rows.abandonedUploads(at, ABANDONED_BATCH)) {
      if (!(await this.rows.forgetUpload(upload.tenant_id, upload.id, upload.blob_key))) continue;
      if (upload.blob_key) await this.blobs.delete(upload.blob_key);
      removed++;
    }
    return removed;
  }

  private report(result: Reconciliation): void {
    this.last = result;
    this.runs++;
    this.reapedTotal += result.reaped;
    const { missing, ...figures } = result;
    this.log.info({ ...figures, missing: missing.length }, 'blob reconciliation');
    if (missing.length) {
      this.log.warn(
        { missing: missing.length, rows: missing.slice(0, NAMED) },
        'rows whose blob is missing from the blob store (kept: restore the blobs, or delete the rows)',
      );
    }
  }

  /** Runs once now (at start) and then every `reapInterval` seconds. */
  start(): void {
    if (this.first) return;
    this.first = this.reapOnce().catch((error) => this.log.error({ err: error }, 'blob reconciliation failed'));
    this.loop.start();
  }

  async stop(): Promise<void> {
    await this.first;
    await this.loop.stop();
    await this.job.release();
  }
}
