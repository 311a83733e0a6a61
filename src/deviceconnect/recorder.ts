// Records a terminal session's output for playback: pieces of output with the pause before each (a pause counts
// from 1.5 s, as Mender's recorder does, capped at 65 535 ms), written in batches beside the relay, never in its
// way. The session's byte limit bounds what one recording can hold.
import type { FastifyBaseLogger } from 'fastify';
import type { ConnectService } from './service.js';

const MIN_DELAY_MS = 1500;
const MAX_DELAY_MS = 65_535;
/** Output is merged into pieces of up to this size before a write. */
const PIECE = 16 * 1024;

export class Recorder {
  private pieces: { delayMs: number; data: Buffer }[] = [];
  private seq = 0;
  private last = Date.now();
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly connect: ConnectService,
    private readonly tenantId: string,
    private readonly sessionId: string,
    private readonly log: FastifyBaseLogger,
  ) {}

  output(data: Uint8Array): void {
    const at = Date.now();
    const pause = at - this.last;
    this.last = at;
    const delayMs = pause >= MIN_DELAY_MS ? Math.min(pause, MAX_DELAY_MS) : 0;
    const tail = this.pieces.at(-1);
    if (tail && delayMs === 0 && tail.data.length + data.length <= PIECE) {
      tail.data = Buffer.concat([tail.data, data]);
    } else {
      this.pieces.push({ delayMs, data: Buffer.from(data) });
    }
    if (this.pieces.length > 1) this.flush(this.pieces.length - 1);
  }

  /** Writes what is buffered; the returned promise settles when every write so far is done. */
  end(): Promise<void> {
    this.flush(this.pieces.length);
    return this.writing;
  }

  private flush(count: number): void {
    const batch = this.pieces.splice(0, count);
    if (batch.length === 0) return;
    const first = this.seq;
    this.seq += batch.length;
    this.writing = this.writing
      .then(() => this.connect.appendRecording(this.tenantId, this.sessionId, first, batch))
      .catch((error: unknown) => this.log.error({ err: error }, 'deviceconnect: could not write the recording'));
  }
}
