// An answer sent before the request body was read to its end (an early 400 on an upload): Node dumps an unread
// body only when nothing began reading it, so a body the multipart parser had started on stayed paused, the
// client's send blocked on a full TCP window and a client that sends its whole body before reading never saw the
// answer (the connection was reset ~72 s later). The rest of such a body is now read and thrown away, so the
// client finishes sending and reads the answer at once. The connection is not closed meanwhile: a close while the
// client still sends makes a reset, and a reset discards the answer the client has not read yet.
import type { FastifyInstance } from 'fastify';

/** At most this much of an unread body is drained after the answer; past it the connection is cut. */
export const MAX_DRAINED_BYTES = 256 * 1024 * 1024;

export function drainUnreadBody(app: FastifyInstance): void {
  app.addHook('onSend', async (request) => {
    const body = request.raw;
    if (body.complete || body.destroyed) return;
    let drained = 0;
    body.on('data', (chunk: Buffer) => {
      drained += chunk.length;
      if (drained > MAX_DRAINED_BYTES) body.socket?.destroy();
    });
    body.resume();
  });
}
