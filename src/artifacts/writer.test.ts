import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, it } from 'node:test';
import { readArtifact } from './format/reader.js';
import { writeModuleArtifact } from './writer.js';

describe('artifact writer', () => {
  let work: string;
  before(() => {
    work = mkdtempSync(join(tmpdir(), 'flotilla-writer-'));
    writeFileSync(join(work, 'app.conf'), 'key=value\n'.repeat(5000));
    writeFileSync(join(work, 'dest_dir'), '/etc/app');
    writeFileSync(join(work, 'filename'), 'app.conf');
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  it('writes a v3 single-file artifact that the real mender-artifact reads, and that our reader reads back', async () => {
    const out = join(work, 'generated.mender');
    const stream = await writeModuleArtifact({
      name: 'generated-1.0',
      deviceTypes: ['raspberrypi4', 'qemux86-64'],
      type: 'single-file',
      files: [
        { name: 'dest_dir', path: join(work, 'dest_dir') },
        { name: 'filename', path: join(work, 'filename') },
        { name: 'app.conf', path: join(work, 'app.conf') },
      ],
      metaData: { note: 'generated' },
      workDir: work,
    });
    await pipeline(stream, createWriteStream(out));
    const read = execFileSync('mender-artifact', ['read', out]).toString();
    assert.match(read, /Name: generated-1\.0/);
    assert.match(read, /Compatible devices: '\[raspberrypi4 qemux86-64\]'/);
    assert.match(read, /Type:\s+single-file/);
    assert.match(read, /name: +app\.conf/);
    const info = await readArtifact(Readable.from([readFileSync(out)]));
    assert.equal(info.name, 'generated-1.0');
    assert.deepEqual(info.deviceTypes, ['raspberrypi4', 'qemux86-64']);
    assert.deepEqual(info.updates[0].metaData, { note: 'generated' });
    const app = info.updates[0].files.find((f) => f.name === 'app.conf');
    assert.equal(
      app?.checksum,
      createHash('sha256')
        .update(readFileSync(join(work, 'app.conf')))
        .digest('hex'),
    );
    assert.equal(app?.size, 50_000);
  });

  it('writes the data tarball uncompressed when asked: mender-artifact reads it, each file is a range of the artifact', async () => {
    const out = join(work, 'plain.mender');
    const stream = await writeModuleArtifact({
      name: 'plain-1.0',
      deviceTypes: ['ddi-board'],
      type: 'swupdate',
      files: [{ name: 'app.conf', path: join(work, 'app.conf') }],
      workDir: work,
      compression: 'none',
    });
    await pipeline(stream, createWriteStream(out));
    assert.match(execFileSync('mender-artifact', ['read', out]).toString(), /name: +app\.conf/);
    const bytes = readFileSync(out);
    const info = await readArtifact(Readable.from([bytes]));
    const [file] = info.updates[0].files;
    assert.notEqual(file.offset, null);
    const offset = file.offset as number;
    assert.ok(bytes.subarray(offset, offset + file.size).equals(readFileSync(join(work, 'app.conf'))));
  });
});
