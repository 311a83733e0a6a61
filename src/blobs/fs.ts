// The folder blob store of the embedded default: `<root>/objects/<key>` for blobs, `<root>/tmp/` for uploads in
// flight. Commit is fsync + rename within one file system, so a blob is either whole or absent after a crash.
import { randomUUID } from 'node:crypto';
import { createWriteStream, type Dirent } from 'node:fs';
import {
  access,
  constants,
  type FileHandle,
  link,
  mkdir,
  open,
  readdir,
  readFile,
  rm,
  stat,
  unlink,
} from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import {
  assertBlobKey,
  type BlobSender,
  type BlobStore,
  type ByteRange,
  type PendingBlob,
  type StoredBlob,
  written,
} from './store.js';

const READ_CHUNK = 1024 * 1024;
/**
 * How much of an upload a blob write may hold before it asks for less: with the default 16 KiB every 64 KiB chunk from
 * the socket paused the upload until it was written; 1 MiB lets the file writes run behind the parser.
 */
const WRITE_BUFFER = 1024 * 1024;
/** Blobs up to this size are read whole once and then served from memory (`peek`). */
export const SMALL_BLOB = 64 * 1024;
/** Bytes of small blobs kept in memory at most; the oldest go first. */
const SMALL_BLOBS_BYTES = 32 * 1024 * 1024;

export class FsBlobStore implements BlobStore {
  private readonly objects: string;
  private readonly tmp: string;
  /**
   * Small blobs' bytes by key, oldest first. A 4 KiB artifact served from its file took four thread-pool calls
   * (stat, open, read, close) per download, 6-11 % of a deployment's CPU. A key is never given to other bytes
   * (commit refuses a taken key, keys carry ids); `delete` forgets it here, and callers check their own row (an
   * artifact deleted on another process is answered 404 before its blob is asked for).
   */
  private readonly small = new Map<string, Buffer>();
  private smallBytes = 0;

  constructor(root: string) {
    this.objects = join(root, 'objects');
    this.tmp = join(root, 'tmp');
  }

  async begin(key: string): Promise<PendingBlob> {
    assertBlobKey(key);
    await mkdir(this.tmp, { recursive: true });
    const path = join(this.tmp, `${randomUUID()}.part`);
    const stream = createWriteStream(path, { flags: 'wx', highWaterMark: WRITE_BUFFER });
    let done = false;
    const objects = this.objects;
    return {
      stream,
      get size() {
        return stream.bytesWritten;
      },
      async commit() {
        if (done) throw new Error('blob already committed or aborted');
        if (!stream.writableFinished) throw new Error('blob stream not finished');
        const handle = await open(path, 'r+');
        try {
          await handle.sync();
        } finally {
          await handle.close();
        }
        const target = join(objects, key);
        await mkdir(dirname(target), { recursive: true });
        // link() fails if the key is taken, where rename() would silently replace it.
        await link(path, target);
        done = true;
        await unlink(path);
        await syncDir(dirname(target));
      },
      async abort() {
        done = true;
        stream.destroy();
        await rm(path, { force: true });
      },
    };
  }

  async open(key: string, range?: ByteRange): Promise<Readable> {
    assertBlobKey(key);
    const path = join(this.objects, key);
    const handle = await open(path, 'r');
    // 1 MiB reads, as a plain file server does: with the default 64 KiB a download spends half its CPU on a promise
    // per chunk and reaches about 0.6 of a plain file stream (research/performance.md 3.2).
    return handle.createReadStream({ start: range?.start, end: range?.end, highWaterMark: READ_CHUNK });
  }

  async sender(key: string, range?: ByteRange): Promise<BlobSender> {
    assertBlobKey(key);
    const handle = await open(join(this.objects, key), 'r');
    try {
      const start = range?.start ?? 0;
      const end = range ? range.end : (await handle.stat()).size - 1;
      return {
        async writeTo(out) {
          try {
            await copyInto(handle, start, end, out);
          } finally {
            await handle.close();
          }
        },
        close: () => handle.close(),
      };
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  async size(key: string): Promise<number | undefined> {
    assertBlobKey(key);
    try {
      return (await stat(join(this.objects, key))).size;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  async peek(key: string): Promise<{ size: number; bytes?: Buffer } | undefined> {
    const kept = this.small.get(key);
    if (kept !== undefined) return { size: kept.length, bytes: kept };
    // The size first: a large blob is opened once, by whoever sends it, not here too.
    const size = await this.size(key);
    if (size === undefined || size > SMALL_BLOB) return size === undefined ? undefined : { size };
    let bytes: Buffer;
    try {
      bytes = await readFile(join(this.objects, key));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    this.keep(key, bytes);
    return { size: bytes.length, bytes };
  }

  private keep(key: string, bytes: Buffer): void {
    if (this.small.has(key)) return;
    this.small.set(key, bytes);
    this.smallBytes += bytes.length;
    for (const [oldest, kept] of this.small) {
      if (this.smallBytes <= SMALL_BLOBS_BYTES) break;
      this.small.delete(oldest);
      this.smallBytes -= kept.length;
    }
  }

  async delete(key: string): Promise<void> {
    assertBlobKey(key);
    const kept = this.small.get(key);
    if (kept !== undefined) {
      this.small.delete(key);
      this.smallBytes -= kept.length;
    }
    await rm(join(this.objects, key), { force: true });
  }

  async *list(prefix = ''): AsyncIterable<StoredBlob> {
    yield* walk(this.objects, '', prefix);
  }

  async downloadUrl(): Promise<string | undefined> {
    return undefined;
  }

  async probe(): Promise<void> {
    // Writable folders are what an upload needs first (the temporary) and last (the rename into objects/); both
    // are made on first use, so a fresh data directory has neither yet.
    for (const dir of [this.tmp, this.objects]) {
      await mkdir(dir, { recursive: true });
      await access(dir, constants.W_OK);
    }
  }

  async cleanup(): Promise<number> {
    let names: string[];
    try {
      names = await readdir(this.tmp);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw error;
    }
    const parts = names.filter((n) => n.endsWith('.part'));
    await Promise.all(parts.map((n) => rm(join(this.tmp, n), { force: true })));
    return parts.length;
  }
}

/** Files under `dir` (keys relative to the objects folder) whose key starts with `prefix`. */
async function* walk(dir: string, base: string, prefix: string): AsyncIterable<StoredBlob> {
  let entries: Dirent[];
  try {
    entries = await readdir(join(dir, base), { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  for (const entry of entries) {
    const key = base ? `${base}/${entry.name}` : entry.name;
    // A folder is entered only when keys under it can match the prefix.
    if (!key.startsWith(prefix) && !prefix.startsWith(`${key}/`)) continue;
    if (entry.isDirectory()) yield* walk(dir, key, prefix);
    else if (entry.isFile() && key.startsWith(prefix)) {
      const info = await stat(join(dir, key)).catch(() => undefined);
      if (info) yield { key, size: info.size, modified: info.mtime };
    }
  }
}

/**
 * Bytes start..end of a file into `out`, through two buffers taking turns: one is read into while `out` writes the
 * other, and a buffer is read into again only after `out` called back for it. A read stream allocates a new buffer per
 * chunk instead, 1,024 per GiB: once the server had idled for half a minute (V8 then keeps the old generation tight),
 * those buffers cost a full garbage collection every few MiB, 2.3-2.6 s of server CPU per GiB against 0.4-0.7 s
 * (measured on the hawkBit payload file and the signed link, issue 17).
 */
async function copyInto(handle: FileHandle, start: number, end: number, out: Writable): Promise<void> {
  if (end < start) return;
  const size = Math.min(READ_CHUNK, end - start + 1);
  const buffers = [Buffer.allocUnsafeSlow(size), Buffer.allocUnsafeSlow(size)];
  let writing: Promise<void> = Promise.resolve();
  let position = start;
  for (let turn = 0; position <= end; turn++) {
    const buffer = buffers[turn % 2];
    const { bytesRead } = await handle.read(buffer, 0, Math.min(size, end - position + 1), position);
    if (bytesRead === 0) throw new Error('blob ended before the bytes asked for');
    await writing;
    writing = written(out, buffer.subarray(0, bytesRead));
    // Awaited at the next turn; a failure meanwhile (the client left) must not count as unhandled.
    writing.catch(() => undefined);
    position += bytesRead;
  }
  await writing;
}

async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
