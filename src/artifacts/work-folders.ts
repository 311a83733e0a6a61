// Leftover work folders of artifact uploads and generation (`tmp-upload-*`, `tmp-raw-*`, `tmp-generate-*` in the
// data folder): each request removes its own when it ends, but a crash in the middle left them for ever. They are
// removed at start once old enough: processes sharing a data folder may still be working in younger ones.
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';

/** A work folder older than this belongs to no live request (an upload or generation takes minutes at most). */
export const STALE_WORK_FOLDER_MS = 6 * 60 * 60 * 1000;

const WORK_FOLDER = /^tmp-(upload|raw|generate)-/;

/** Removes the stale work folders in `dataDir`; answers how many. */
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
    if (!info || nowMs - info.mtimeMs < STALE_WORK_FOLDER_MS) continue;
    await rm(path, { recursive: true, force: true });
    removed++;
  }
  return removed;
}
