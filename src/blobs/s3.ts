// The S3-compatible blob store for multi-node set-ups (AWS S3, Ceph radosgw, MinIO): one object per blob under a
// key prefix. A blob is a multipart upload (s3-upload.ts) that is completed only at commit, so nothing is visible
// before; devices fetch blobs through presigned GET links, which the store itself honours Range on,
// and direct uploads go to presigned PUT links.
import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { S3PendingBlob } from './s3-upload.js';
import { assertBlobKey, type BlobStore, type ByteRange, type PendingBlob, type StoredBlob } from './store.js';

/** SigV4 presigned URLs live at most 7 days. */
const MAX_PRESIGN_SECONDS = 7 * 24 * 3600;
/** Multipart uploads older than this at start are leftovers of a crashed process, not another node's upload. */
const STALE_UPLOAD_MS = 24 * 3600 * 1000;
/** 8 MiB parts, 4 in flight: an upload holds 40 MiB of part buffers, and 10 GiB fits S3's 10,000-part limit. */
const PART_SIZE = 8 * 1024 * 1024;
const PARTS_IN_FLIGHT = 4;

export interface S3Location {
  /** `http(s)://host[:port]`: the S3 endpoint; empty for AWS's own from the region. */
  endpoint: string;
  region: string;
  bucket: string;
  /** Prepended to every key (`flotilla/`); empty for the bucket's root. */
  prefix: string;
  /** Bucket in the path (radosgw, MinIO) rather than in the host name (AWS's virtual-hosted style). */
  pathStyle: boolean;
  /** Explicit credentials (tests); otherwise the SDK's usual chain (AWS_ACCESS_KEY_ID, profiles, instance roles). */
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

export class S3BlobStore implements BlobStore {
  readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;

  constructor(location: S3Location, clientConfig: Partial<S3ClientConfig> = {}) {
    this.client = new S3Client({
      region: location.region,
      endpoint: location.endpoint || undefined,
      forcePathStyle: location.pathStyle,
      credentials: location.credentials,
      // Checksums only when the operation requires them: radosgw 16 and other S3 peers refuse the newer
      // default CRC32 trailers on streamed parts.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      ...clientConfig,
    });
    this.bucket = location.bucket;
    this.prefix = location.prefix;
  }

  private objectKey(key: string): string {
    assertBlobKey(key);
    return `${this.prefix}${key}`;
  }

  async begin(key: string): Promise<PendingBlob> {
    const objectKey = this.objectKey(key);
    return new S3PendingBlob(
      this.client,
      this.bucket,
      objectKey,
      { partSize: PART_SIZE, inFlight: PARTS_IN_FLIGHT },
      async () => {
        // Keys are fresh UUIDs, so this guards against a caller's mistake.
        if (await this.exists(objectKey)) throw new Error(`EEXIST: blob ${key} already exists`);
      },
    );
  }

  private async exists(objectKey: string): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: objectKey }));
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
  }

  async open(key: string, range?: ByteRange): Promise<Readable> {
    const answer = await this.client.send(
      new GetObjectCommand({
        Bucket: this.bucket,
        Key: this.objectKey(key),
        Range: range ? `bytes=${range.start}-${range.end}` : undefined,
      }),
    );
    return answer.Body as Readable;
  }

  async size(key: string): Promise<number | undefined> {
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
      return head.ContentLength;
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
  }

  async *list(prefix = ''): AsyncIterable<StoredBlob> {
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: `${this.prefix}${prefix}` || undefined,
          ContinuationToken: token,
        }),
      );
      for (const object of page.Contents ?? []) {
        if (!object.Key) continue;
        yield {
          key: object.Key.slice(this.prefix.length),
          size: object.Size ?? 0,
          modified: object.LastModified ?? new Date(0),
        };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  /** A presigned GET: the device fetches from the object store, which answers Range itself (resumed downloads). */
  async downloadUrl(key: string, expiresAt: Date, filename?: string): Promise<string | undefined> {
    const command = new GetObjectCommand({
      Bucket: this.bucket,
      Key: this.objectKey(key),
      ResponseContentDisposition: filename
        ? `attachment; filename="${filename.replace(/["\\\r\n]/g, '_')}"`
        : undefined,
    });
    return getSignedUrl(this.client, command, { expiresIn: presignSeconds(expiresAt) });
  }

  /**
   * A presigned PUT (Mender's direct upload): the operator's client sends the artifact to the object store, which
   * checks the signature and expiry; one PUT, as Mender's API has no multipart variant (S3 takes up to 5 GiB so).
   */
  async uploadUrl(key: string, expiresAt: Date): Promise<string> {
    const command = new PutObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) });
    return getSignedUrl(this.client, command, { expiresIn: presignSeconds(expiresAt) });
  }

  async close(): Promise<void> {
    this.client.destroy();
  }

  async probe(): Promise<void> {
    await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
  }

  /**
   * Aborts multipart uploads under the prefix that a crashed process left (older than a day: with several nodes,
   * a younger one may be another node's upload in flight). Returns how many.
   */
  async cleanup(now = new Date()): Promise<number> {
    let aborted = 0;
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    do {
      const page = await this.client.send(
        new ListMultipartUploadsCommand({
          Bucket: this.bucket,
          Prefix: this.prefix || undefined,
          KeyMarker: keyMarker,
          UploadIdMarker: uploadIdMarker,
        }),
      );
      for (const upload of page.Uploads ?? []) {
        if (!upload.Key || !upload.UploadId) continue;
        if (upload.Initiated && now.getTime() - upload.Initiated.getTime() < STALE_UPLOAD_MS) continue;
        await this.client.send(
          new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: upload.Key, UploadId: upload.UploadId }),
        );
        aborted++;
      }
      keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
      uploadIdMarker = page.IsTruncated ? page.NextUploadIdMarker : undefined;
    } while (keyMarker);
    return aborted;
  }

  /** Multipart uploads in flight under the prefix (what an abort must leave none of). */
  async uploadsInFlight(): Promise<string[]> {
    const page = await this.client.send(
      new ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: this.prefix || undefined }),
    );
    return (page.Uploads ?? []).map((u) => u.Key ?? '');
  }
}

function presignSeconds(expiresAt: Date): number {
  const seconds = Math.ceil((expiresAt.getTime() - Date.now()) / 1000);
  return Math.min(Math.max(1, seconds), MAX_PRESIGN_SECONDS);
}

function isNotFound(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'NotFound' || e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404;
}
