// Work folders of artifact uploads and generation (`tmp-upload-*`, `tmp-raw-*`, `tmp-generate-*` in the data
// folder): each request removes its own when it ends, but a crash in the middle left them for ever. A folder's name
// says which process made it (host and pid), so a start removes at once those of processes that are gone from this
// host (or of this very pid: a restarted container's process often gets the pid its predecessor had); a folder of
// another host, or of a live process here, goes only once it is too old to belong to any request.
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';

/** A work folder older than this belongs to no live request (an upload or generation takes minutes at most). */
export const STALE_WORK_FOLDER_MS = 6 * 60 * 60 * 1000;

export type WorkKind = 'upload' | 'raw' | 'generate';

const WORK_FOLDER = /^tmp-(upload|raw|generate)-/;
const OWNED = /^tmp-(?:upload|raw|generate)-h([A-Za-z0-9]*)-p(\d+)-/;

/** This host's name as folder names carry it (letters and digits only). */
function hostTag(): string {
  return hostname()
    .replace(/[^A-Za-z0-9]/g, '')
    .slice(0, 40);
}

/** A fresh work folder in `dataDir` named after this process. */
export function makeWorkFolder(dataDir: string, kind: WorkKind): Promise<string> {
  return mkdtemp(join(dataDir, `tmp-${kind}-h${hostTag()}-p${process.pid}-`));
}

/** Whether the process that made the folder `name` may still be working in it. */
function ownerMayLive(name: string): boolean {
  const owner = OWNED.exec(name);
  if (!owner || owner[1] !== hostTag()) return true;
  const pid = Number(owner[2]);
  // Called at start, before this process made any folder: one with our pid is a predecessor's.
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes the work folders in `dataDir` no live request can own; answers how many. Call at start only. */
export async function removeStaleWorkFolders(dataDir: string, nowMs = Date.now()): Promise<number> {
  let names: string[];
  try {
    names = await readdir(dataDir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw error;
  }
  let removed = 0;
  for (const name of names.filter((n) => WORK_FOLDER.test(n))) {
    const path = join(dataDir, name);
    const info = await stat(path).catch(() => undefined);
    if (!info || (ownerMayLive(name) && nowMs - info.mtimeMs < STALE_WORK_FOLDER_MS)) continue;
    await rm(path, { recursive: true, force: true });
    removed++;
  }
  return removed;
}
