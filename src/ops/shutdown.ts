// Graceful shutdown of `flotilla serve` on SIGTERM / SIGINT: stop accepting connections, let requests and uploads
// in flight finish, stop the background work, close the broker and then the database (Fastify's close runs the
// app's preClose/onClose hooks in that order). Past the bound, or at a second signal, the process exits anyway:
// an upload cut off there leaves only a temporary blob (removed at the next start), never a half-stored artifact.
import type { FastifyInstance } from 'fastify';

export interface ShutdownOptions {
  /** Seconds to wait for work in flight. */
  timeoutSeconds: number;
  exit?: (code: number) => void;
}

export function closeOnSignals(app: FastifyInstance, options: ShutdownOptions): void {
  const exit = options.exit ?? ((code: number) => process.exit(code));
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      app.log.warn({ signal }, 'second signal: exiting now, work in flight is dropped');
      exit(1);
      return;
    }
    stopping = true;
    app.shuttingDown = true;
    app.log.info({ signal, bound_seconds: options.timeoutSeconds }, 'shutting down: finishing requests in flight');
    const bound = setTimeout(() => {
      app.log.warn({ bound_seconds: options.timeoutSeconds }, 'shutdown bound reached: exiting with work in flight');
      exit(1);
    }, options.timeoutSeconds * 1000);
    bound.unref();
    drain(app)
      .then(() => app.close())
      .then(
        () => {
          clearTimeout(bound);
          app.log.info('shut down');
          exit(0);
        },
        (error: unknown) => {
          clearTimeout(bound);
          app.log.error({ err: error }, 'shutdown failed');
          exit(1);
        },
      );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

/**
 * Stops accepting connections and waits for the requests in flight, before Fastify's close stops the background
 * work and the broker (its preClose hooks run before it closes the server, which would cut the check-in writer and
 * the revocation feed from under a request still running). Connections kept alive are closed once idle.
 */
async function drain(app: FastifyInstance): Promise<void> {
  const server = app.server;
  if (!server.listening) return;
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  const idle = setInterval(() => server.closeIdleConnections(), 100);
  try {
    await closed;
  } finally {
    clearInterval(idle);
  }
}
