import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, it } from 'node:test';
import { FsBlobStore } from './fs.js';

async function text(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString();
}

describe('folder blob store', () => {
  let root: string;
  let blobs: FsBlobStore;
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'flotilla-blobs-'));
    blobs = new FsBlobStore(root);
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('makes a blob visible only after commit, then serves it whole and by range', async () => {
    const pending = await blobs.begin();
    await pipeline(Readable.from([Buffer.from('hello '), Buffer.from('world')]), pending.stream);
    assert.equal(pending.size, 11);
    assert.equal(await blobs.size('t1/a'), undefined);
    await pending.commit('t1/a');
    assert.equal(await blobs.size('t1/a'), 11);
    assert.equal(await text(await blobs.open('t1/a')), 'hello world');
    assert.equal(await text(await blobs.open('t1/a', { start: 6, end: 10 })), 'world');
    assert.deepEqual(readdirSync(join(root, 'tmp')), []);
  });

  it('reads downloads in 1 MiB chunks, whole and by a range across chunk boundaries', async () => {
    const bytes = Buffer.alloc(3 * 1024 * 1024 + 5);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7 + (i >> 12)) & 0xff;
    const pending = await blobs.begin();
    await pipeline(Readable.from([bytes]), pending.stream);
    await pending.commit('t1/big');
    const sizes: number[] = [];
    const whole: Buffer[] = [];
    for await (const chunk of await blobs.open('t1/big')) {
      sizes.push((chunk as Buffer).length);
      whole.push(chunk as Buffer);
    }
    assert.deepEqual(sizes, [1 << 20, 1 << 20, 1 << 20, 5]);
    assert.ok(Buffer.concat(whole).equals(bytes));
    const start = (1 << 20) - 3;
    const end = 2 * (1 << 20) + 10;
    const part: Buffer[] = [];
    for await (const chunk of await blobs.open('t1/big', { start, end })) part.push(chunk as Buffer);
    assert.ok(Buffer.concat(part).equals(bytes.subarray(start, end + 1)));
  });

  it('refuses to replace a committed blob and leaves the first one intact', async () => {
    const first = await blobs.begin();
    await pipeline(Readable.from([Buffer.from('one')]), first.stream);
    await first.commit('t1/dup');
    const second = await blobs.begin();
    await pipeline(Readable.from([Buffer.from('two')]), second.stream);
    await assert.rejects(second.commit('t1/dup'), /EEXIST/);
    await second.abort();
    assert.equal(await text(await blobs.open('t1/dup')), 'one');
    assert.deepEqual(readdirSync(join(root, 'tmp')), []);
  });

  it('aborts without leaving a temporary, and cleans up temporaries of a crashed run', async () => {
    const pending = await blobs.begin();
    pending.stream.write('partial');
    await pending.abort();
    assert.deepEqual(readdirSync(join(root, 'tmp')), []);
    writeFileSync(join(root, 'tmp', 'left-over.part'), 'x');
    assert.equal(await blobs.cleanup(), 1);
    assert.deepEqual(readdirSync(join(root, 'tmp')), []);
  });

  it('rejects keys that could escape the folder', async () => {
    for (const key of ['../x', '/etc/passwd', 'a/../../b', '', 'a//b', '.hidden']) {
      await assert.rejects(blobs.size(key), /invalid blob key/, key);
    }
  });

  it('deletes a blob and answers undefined for it afterwards', async () => {
    const pending = await blobs.begin();
    await pipeline(Readable.from([Buffer.from('bye')]), pending.stream);
    await pending.commit('t1/gone');
    await blobs.delete('t1/gone');
    assert.equal(await blobs.size('t1/gone'), undefined);
    await blobs.delete('t1/gone');
  });
});
