// The blob store interface: artifacts and other large objects live here, the database keeps only their keys.
// A blob is written under the key it will have, and becomes visible there only once it is complete
// (`PendingBlob.commit`): a folder store renames a temporary, an S3 store completes a multipart upload.
import type { Readable, Writable } from 'node:stream';

export interface ByteRange {
  /** First byte, inclusive. */
  start: number;
  /** Last byte, inclusive. */
  end: number;
}

export interface PendingBlob {
  /** Where the bytes go. Finish it (end + 'finish') before commit. */
  readonly stream: Writable;
  /** Bytes written so far. */
  readonly size: number;
  /** Makes the blob visible under its key, atomically; replaces nothing (a taken key is an error). */
  commit(): Promise<void>;
  /** Throws the bytes away; safe to call more than once and after a failed commit. */
  abort(): Promise<void>;
}

/**
 * A blob's bytes opened for one HTTP answer. A Readable must hand out a fresh buffer per chunk (its consumer may keep
 * it); a sender writes into the answer itself and reuses its buffers once the answer took them.
 */
export interface BlobSender {
  /** Writes the bytes into `out` without ending it, and lets go of the blob. */
  writeTo(out: Writable): Promise<void>;
  /** Lets go of the blob without writing (an answer that ends early); harmless after `writeTo`. */
  close(): Promise<void>;
}

/** A committed blob as a listing shows it (what the reaper reconciles with the database's rows). */
export interface StoredBlob {
  key: string;
  size: number;
  /** When it was committed (a folder's mtime, S3's LastModified). */
  modified: Date;
}

export interface BlobStore {
  /** Starts a blob that `commit` will make visible under `key` (S3 must know the key before the first byte). */
  begin(key: string): Promise<PendingBlob>;
  open(key: string, range?: ByteRange): Promise<Readable>;
  /** The bytes for an HTTP answer, when the store can write them with less garbage than `open` (see BlobSender). */
  sender?(key: string, range?: ByteRange): Promise<BlobSender>;
  /** Size in bytes, or undefined when there is no such blob. */
  size(key: string): Promise<number | undefined>;
  /**
   * Optional: the blob's size and, when it is small, its bytes, which the store may keep in memory (a committed blob
   * never changes under its key). Undefined when there is no such blob.
   */
  peek?(key: string): Promise<{ size: number; bytes?: Buffer } | undefined>;
  delete(key: string): Promise<void>;
  /** Every committed blob whose key starts with `prefix` (all when empty), in no particular order. */
  list(prefix?: string): AsyncIterable<StoredBlob>;
  /** A URL a device can fetch directly (presigned), or undefined when Flotilla serves the blob itself. */
  downloadUrl(key: string, expiresAt: Date, filename?: string): Promise<string | undefined>;
  /**
   * A URL that takes the blob's bytes in one PUT straight into the store (S3: presigned PutObject), visible at `key`
   * as soon as the PUT ends; absent when Flotilla receives uploads itself.
   */
  uploadUrl?(key: string, expiresAt: Date): Promise<string>;
  /** Removes temporaries left by a crash; returns how many. Called at start. */
  cleanup(): Promise<number>;
  /** Throws when the store cannot take a blob now (readiness); a store without a cheap check leaves it out. */
  probe?(): Promise<void>;
  /** Lets go of connections (an S3 client's sockets); the store is not used afterwards. */
  close?(): Promise<void>;
}

/** A stream as a sender: each chunk written into the answer (which stays open) once it took the one before. */
export function streamSender(stream: Readable): BlobSender {
  return {
    async writeTo(out) {
      try {
        for await (const chunk of stream) await written(out, chunk as Buffer);
      } finally {
        stream.destroy();
      }
    },
    close: async () => {
      stream.destroy();
    },
  };
}

/** Resolves once `out` is done with `chunk` (its write callback), fails when `out` closes first. */
export function written(out: Writable, chunk: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const closed = () => reject(new Error('the answer closed before its bytes were written'));
    out.once('close', closed);
    out.write(chunk, (error) => {
      out.off('close', closed);
      if (error) reject(error);
      else resolve();
    });
  });
}

/** The store's own sender for a blob when it has one, else its stream. */
export async function blobSender(store: BlobStore, key: string, range?: ByteRange): Promise<BlobSender> {
  return store.sender ? store.sender(key, range) : streamSender(await store.open(key, range));
}

const KEY = /^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)*$/;

/** Keys are relative paths of plain names: no `..`, no leading slash, nothing a file system would read twice. */
export function assertBlobKey(key: string): void {
  if (!KEY.test(key) || key.length > 512) throw new Error(`invalid blob key: ${JSON.stringify(key)}`);
}
