import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, it } from 'node:test';
import { blobStoreContract, patterned } from '../../test/support/blob-contract.js';
import { FsBlobStore, SMALL_BLOB } from './fs.js';

describe('folder blob store', () => {
  let root: string;
  let blobs: FsBlobStore;
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'flotilla-blobs-'));
    blobs = new FsBlobStore(root);
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  const tmpFiles = async () => {
    try {
      return readdirSync(join(root, 'tmp'));
    } catch {
      return [];
    }
  };
  blobStoreContract(() => ({ blobs, leftovers: tmpFiles }), 't1');

  it('reads downloads in 1 MiB chunks', async () => {
    const bytes = patterned(3 * 1024 * 1024 + 5);
    const pending = await blobs.begin('t1/chunks');
    await pipeline(Readable.from([bytes]), pending.stream);
    await pending.commit();
    const sizes: number[] = [];
    for await (const chunk of await blobs.open('t1/chunks')) sizes.push((chunk as Buffer).length);
    assert.deepEqual(sizes, [1 << 20, 1 << 20, 1 << 20, 5]);
  });

  it('peeks a small blob whole, from memory after the first read, and forgets it when deleted', async () => {
    const bytes = patterned(4096);
    const pending = await blobs.begin('t1/small');
    await pipeline(Readable.from([bytes]), pending.stream);
    await pending.commit();
    assert.deepEqual(await blobs.peek('t1/small'), { size: 4096, bytes });
    // The file is gone behind the store's back: the bytes it read come from memory.
    rmSync(join(root, 'objects', 't1', 'small'));
    assert.deepEqual((await blobs.peek('t1/small'))?.bytes, bytes);
    await blobs.delete('t1/small');
    assert.equal(await blobs.peek('t1/small'), undefined);
  });

  it('peeks only the size of a blob larger than SMALL_BLOB', async () => {
    const pending = await blobs.begin('t1/large');
    await pipeline(Readable.from([patterned(SMALL_BLOB + 1)]), pending.stream);
    await pending.commit();
    assert.deepEqual(await blobs.peek('t1/large'), { size: SMALL_BLOB + 1 });
  });

  it('cleans up temporaries of a crashed run', async () => {
    const pending = await blobs.begin('t1/crash');
    pending.stream.write('partial');
    await pending.abort();
    writeFileSync(join(root, 'tmp', 'left-over.part'), 'x');
    assert.equal(await blobs.cleanup(), 1);
    assert.deepEqual(await tmpFiles(), []);
  });
});
