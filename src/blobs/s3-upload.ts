// One blob on its way into S3: a multipart upload whose bytes are copied into a few part buffers as they arrive and
// sent a few parts at a time, completed only at commit (nothing is visible before), aborted otherwise. A blob smaller
// than one part is a single PutObject at commit.
import { webcrypto } from 'node:crypto';
import { Writable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  type CompletedPart,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import type { PendingBlob } from './store.js';

export interface PartPlan {
  /** Bytes per part (S3: at least 5 MiB but for the last). */
  partSize: number;
  /** Parts on the wire at once; one more is being filled. */
  inFlight: number;
}

/**
 * Why not lib-storage's Upload: it queues the incoming chunks in streams and gathers them into a fresh part buffer
 * per part, so a 1 GiB upload allocates 1 GiB of part buffers on top of the chunks, and the chunks live long enough
 * to reach V8's old generation: a full garbage collection every few parts. Here a chunk is copied at once into one of
 * `inFlight + 1` part buffers that go round (a buffer is filled again only after S3 answered for its part), so
 * chunks die young and the upload holds a fixed `(inFlight + 1) * partSize`.
 */
export class S3PendingBlob implements PendingBlob {
  readonly stream: Writable;
  private bytes = 0;
  private filling: Buffer | undefined;
  private filled = 0;
  private readonly spare: Buffer[] = [];
  private readonly sending = new Set<Promise<void>>();
  private readonly parts: CompletedPart[] = [];
  private partsSent = 0;
  private uploadId: Promise<string> | undefined;
  private failure: Error | undefined;
  private state: 'open' | 'committed' | 'aborted' = 'open';

  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    private readonly key: string,
    private readonly plan: PartPlan,
    /** Throws when the key is taken (S3 would silently replace the object). */
    private readonly assertFree: () => Promise<void>,
  ) {
    this.stream = new Writable({
      write: (chunk: Buffer, _encoding, callback) => {
        this.take(chunk).then(() => callback(), callback);
      },
      final: (callback) => callback(this.failure),
    });
  }

  get size(): number {
    return this.bytes;
  }

  /** Copies `chunk` into part buffers, sending each one full; waits for a free buffer when all are on the wire. */
  private async take(chunk: Buffer): Promise<void> {
    if (this.failure) throw this.failure;
    this.bytes += chunk.length;
    let at = 0;
    while (at < chunk.length) {
      if (!this.filling) this.filling = await this.freeBuffer();
      const n = chunk.copy(this.filling, this.filled, at);
      this.filled += n;
      at += n;
      if (this.filled === this.plan.partSize) this.send();
    }
  }

  private async freeBuffer(): Promise<Buffer> {
    while (this.sending.size >= this.plan.inFlight) await Promise.race(this.sending);
    if (this.failure) throw this.failure;
    return this.spare.pop() ?? Buffer.allocUnsafeSlow(this.plan.partSize);
  }

  /** Sends the buffer being filled as the next part; the buffer goes back to the spares once S3 answered. */
  private send(): void {
    const buffer = this.filling as Buffer;
    const length = this.filled;
    const partNumber = ++this.partsSent;
    this.filling = undefined;
    this.filled = 0;
    this.uploadId ??= this.client
      .send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: this.key }))
      .then((answer) => answer.UploadId as string);
    const sent = (async () => {
      const body = buffer.subarray(0, length);
      const [UploadId, sha256] = await Promise.all([this.uploadId as Promise<string>, payloadHash(body)]);
      const command = new UploadPartCommand({
        Bucket: this.bucket,
        Key: this.key,
        UploadId,
        PartNumber: partNumber,
        Body: body,
        ContentLength: length,
      });
      // SigV4 signs a part with its SHA-256; the SDK computes it on the main thread unless the header is there.
      command.middlewareStack.add(
        (next) => (args) => {
          (args.request as { headers: Record<string, string> }).headers['x-amz-content-sha256'] = sha256;
          return next(args);
        },
        { step: 'build', name: 'flotillaPartHash' },
      );
      const answer = await this.client.send(command);
      this.parts.push({ PartNumber: partNumber, ETag: answer.ETag });
      this.spare.push(buffer);
    })()
      .catch((error: Error) => {
        this.failure ??= error;
      })
      .finally(() => this.sending.delete(sent));
    this.sending.add(sent);
  }

  private async settled(): Promise<void> {
    while (this.sending.size) await Promise.all(this.sending);
  }

  async commit(): Promise<void> {
    if (this.state !== 'open') throw new Error('blob already committed or aborted');
    if (!this.stream.writableFinished) throw new Error('blob stream not finished');
    await this.assertFree();
    if (!this.uploadId) {
      // Less than one part: one PutObject, visible when it ends.
      const body = this.filling ? this.filling.subarray(0, this.filled) : Buffer.alloc(0);
      await this.client.send(
        new PutObjectCommand({ Bucket: this.bucket, Key: this.key, Body: body, ContentLength: body.length }),
      );
    } else {
      if (this.filled > 0) this.send();
      await this.settled();
      if (this.failure) throw this.failure;
      await this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.bucket,
          Key: this.key,
          UploadId: await this.uploadId,
          MultipartUpload: { Parts: [...this.parts].sort((a, b) => (a.PartNumber ?? 0) - (b.PartNumber ?? 0)) },
        }),
      );
    }
    this.state = 'committed';
    this.release();
  }

  async abort(): Promise<void> {
    if (this.state !== 'open') return;
    this.state = 'aborted';
    this.failure ??= new Error('blob aborted');
    this.stream.destroy();
    // Parts still on the wire first: an abort before they land could leave them behind on some S3 peers.
    await this.settled();
    const uploadId = await this.uploadId?.catch(() => undefined);
    this.release();
    if (!uploadId) return;
    try {
      await this.client.send(
        new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: this.key, UploadId: uploadId }),
      );
    } catch (error) {
      // Already gone (another node's clean-up at start took it): what the abort wanted.
      if ((error as { name?: string }).name !== 'NoSuchUpload') throw error;
    }
  }

  private release(): void {
    this.filling = undefined;
    this.spare.length = 0;
  }
}

/**
 * A part's SHA-256 in hex, computed on libuv's thread pool (WebCrypto's digest is asynchronous there): the main
 * thread, which also parses the multipart body and verifies the artifact's own checksums, is what limits an upload.
 */
async function payloadHash(body: Buffer): Promise<string> {
  return Buffer.from(await webcrypto.subtle.digest('SHA-256', body)).toString('hex');
}
