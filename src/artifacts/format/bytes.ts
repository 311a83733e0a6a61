// Pull-based exact reads over a stream of chunks, counting the position: the tar parser asks for "exactly 512
// bytes" or "the next n bytes, chunk by chunk" and never holds more than one source chunk beyond what it asked for.
import { ArtifactError } from './errors.js';

export type ChunkSource = AsyncIterable<Uint8Array>;

export class ByteReader {
  /** Bytes handed out so far (offset of the next byte in the source). */
  position = 0;
  private readonly chunks: AsyncIterator<Uint8Array>;
  private pending: Buffer = Buffer.alloc(0);
  private ended = false;

  constructor(
    source: ChunkSource,
    private readonly what: string,
  ) {
    this.chunks = source[Symbol.asyncIterator]();
  }

  /** Loads at least one more chunk into `pending`; false at the end of the source. */
  private async fill(): Promise<boolean> {
    while (!this.ended) {
      const next = await this.chunks.next();
      if (next.done) {
        this.ended = true;
        break;
      }
      if (next.value.length === 0) continue;
      const chunk = Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value);
      this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
      return true;
    }
    return false;
  }

  private truncated(): never {
    throw new ArtifactError(`${this.what} is truncated`);
  }

  /** Exactly `n` bytes (n is small: a tar block); returns fewer only when the source ends before any byte. */
  async exact(n: number): Promise<Buffer | null> {
    while (this.pending.length < n) {
      if (!(await this.fill())) {
        if (this.pending.length === 0) return null;
        this.truncated();
      }
    }
    const out = this.pending.subarray(0, n);
    this.pending = this.pending.subarray(n);
    this.position += n;
    return out;
  }

  /** The next `n` bytes as they arrive, without gathering them. */
  async *take(n: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      if (this.pending.length === 0 && !(await this.fill())) this.truncated();
      const out = this.pending.length > left ? this.pending.subarray(0, left) : this.pending;
      this.pending = this.pending.subarray(out.length);
      this.position += out.length;
      left -= out.length;
      yield out;
    }
  }

  async skip(n: number): Promise<void> {
    for await (const _ of this.take(n)) {
      // discarded
    }
  }

  /** Reads to the end of the source; fails once more than `max` bytes remain. Returns whether all were zero. */
  async rest(max: number): Promise<{ bytes: number; zero: boolean }> {
    let bytes = 0;
    let zero = true;
    for (;;) {
      if (this.pending.length === 0 && !(await this.fill())) return { bytes, zero };
      bytes += this.pending.length;
      this.position += this.pending.length;
      if (bytes > max) throw new ArtifactError(`${this.what} has more than ${max} bytes after its end`);
      if (zero && this.pending.some((b) => b !== 0)) zero = false;
      this.pending = Buffer.alloc(0);
    }
  }

  /** Stops reading: the underlying stream is closed (a Node Readable is destroyed). */
  async close(): Promise<void> {
    this.ended = true;
    await this.chunks.return?.();
  }
}
