import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createReadStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { extractPayloadFile } from './payloads.js';

async function bytes(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe('payload files of a stored artifact', () => {
  let work: string;
  before(() => {
    work = mkdtempSync(join(tmpdir(), 'flotilla-payloads-'));
    writeFileSync(join(work, 'one.txt'), 'the first payload file\n');
    writeFileSync(join(work, 'two.bin'), Buffer.alloc(300_000, 9));
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  for (const compression of ['none', 'gzip', 'lzma']) {
    it(`streams each file out of a ${compression} artifact byte for byte, and 404s an unknown one`, async () => {
      const file = join(work, `${compression}.mender`);
      execFileSync(
        'mender-artifact',
        [
          'write',
          'module-image',
          '-T',
          'files',
          '-n',
          'p',
          '-t',
          'd',
          '-f',
          join(work, 'one.txt'),
          '-f',
          join(work, 'two.bin'),
          '--compression',
          compression,
          '-o',
          file,
        ],
        { stdio: 'pipe' },
      );
      for (const name of ['one.txt', 'two.bin']) {
        const out = await bytes(await extractPayloadFile(createReadStream(file), 0, name));
        assert.ok(out.equals(readFileSync(join(work, name))), name);
      }
      await assert.rejects(extractPayloadFile(createReadStream(file), 0, 'three.txt'), /not found/);
      await assert.rejects(extractPayloadFile(createReadStream(file), 1, 'one.txt'), /not found/);
    });
  }
});
