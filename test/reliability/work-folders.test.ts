// Issue 18, point 7: a crash in the middle of `artifacts/generate` (or an upload) left its work folder in the data
// folder for ever. A server start removes the stale ones and leaves young ones (another process may own them).
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { STALE_WORK_FOLDER_MS } from '../../src/artifacts/work-folders.js';
import { testApp } from '../support/app.js';

test('a server start removes stale work folders of uploads and generation, not young ones', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'flotilla-work-'));
  const old = new Date(Date.now() - STALE_WORK_FOLDER_MS - 60_000);
  const folders = ['tmp-upload-a1', 'tmp-generate-b2', 'tmp-raw-c3', 'tmp-upload-young', 'blobs-not-mine'];
  for (const name of folders) {
    mkdirSync(join(dataDir, name, 'inner'), { recursive: true });
    writeFileSync(join(dataDir, name, 'inner', 'raw'), 'half an artifact');
    if (name !== 'tmp-upload-young') utimesSync(join(dataDir, name), old, old);
  }
  const t = await testApp('sqlite', { dataDir });
  try {
    assert.deepEqual(
      folders.filter((name) => existsSync(join(dataDir, name))),
      ['tmp-upload-young', 'blobs-not-mine'],
    );
  } finally {
    await t.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
