// SQLite WAL checkpoints off the main thread. better-sqlite3 runs statements synchronously on the event loop, and
// SQLite's automatic checkpoint (every 1,000 WAL pages, run by the connection that commits, inside that commit)
// copies the WAL back into the database file and syncs it: 1,000-row check-in writes took about three times as long
// with it (16 against 52 ms median on this machine). A worker thread with its own connection checkpoints instead,
// PASSIVE (it neither waits for nor blocks the server's reads and writes); the server's own connection checkpoints
// only past SAFETY_PAGES, in case the worker is gone or falls behind.
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/** How often the worker checkpoints. */
const INTERVAL_MS = 500;
/** The server connection's own automatic checkpoint, as a safety net: 16,000 pages (64 MiB of 4 KiB pages). */
export const SAFETY_PAGES = 16_000;

// Plain CommonJS run by the worker (no TypeScript loader there). Errors are dropped: a checkpoint that cannot run
// now runs at the next tick, or the server's safety net does it.
const SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.module);
const db = new Database(workerData.file, { fileMustExist: true });
db.pragma('busy_timeout = 1000');
const checkpoint = () => { try { db.pragma('wal_checkpoint(PASSIVE)'); } catch {} };
const timer = setInterval(checkpoint, workerData.intervalMs);
parentPort.once('message', () => {
  clearInterval(timer);
  db.close();
  parentPort.postMessage('closed');
});`;

export interface Checkpointer {
  stop(): Promise<void>;
}

/** Starts checkpointing `file` (a SQLite database in WAL mode) on a worker thread. */
export function startCheckpointer(file: string): Checkpointer {
  const worker = new Worker(SOURCE, {
    eval: true,
    execArgv: [],
    workerData: { file, module: createRequire(import.meta.url).resolve('better-sqlite3'), intervalMs: INTERVAL_MS },
  });
  // Never what keeps a process alive; a worker that fails leaves the safety net.
  worker.unref();
  let exited = false;
  worker.on('error', () => undefined);
  worker.on('exit', () => {
    exited = true;
  });
  let stopped: Promise<void> | undefined;
  return {
    stop() {
      stopped ??= new Promise<void>((resolve) => {
        if (exited) return resolve();
        const done = () => resolve();
        worker.once('message', done);
        worker.once('exit', done);
        worker.once('error', done);
        worker.postMessage('stop');
      }).then(() => worker.terminate().then(() => undefined));
      return stopped;
    },
  };
}
