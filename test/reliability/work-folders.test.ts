// Issue 18, point 7: a crash in the middle of `artifacts/generate` (or an upload) left its work folder in the data
// folder for ever. A server start removes the stale ones and those of processes that are gone, and leaves young ones
// another process may still own.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
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

test('a server start removes at once the work folders of processes gone from this host, not of live ones', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'flotilla-work-'));
  const host = hostname()
    .replace(/[^A-Za-z0-9]/g, '')
    .slice(0, 40);
  const dead = spawnSync(process.execPath, ['-e', '0']).pid;
  const folders = [
    `tmp-generate-h${host}-p${dead}-a1`,
    // The pid this very process has: a predecessor's (a restarted container's process often gets the same one).
    `tmp-raw-h${host}-p${process.pid}-b2`,
    `tmp-upload-h${host}-p${process.ppid}-c3`,
    'tmp-upload-hsomeotherhost-p1-d4',
  ];
  for (const name of folders) mkdirSync(join(dataDir, name));
  const t = await testApp('sqlite', { dataDir });
  try {
    assert.deepEqual(
      folders.filter((name) => existsSync(join(dataDir, name))),
      [`tmp-upload-h${host}-p${process.ppid}-c3`, 'tmp-upload-hsomeotherhost-p1-d4'],
    );
  } finally {
    await t.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
